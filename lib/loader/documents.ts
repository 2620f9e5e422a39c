import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { LineCounter, isMap, isPair, isScalar, isSeq } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import type { z } from "zod";
import { FaultlineError, ValidationError } from "../errors.ts";
import type { Problem } from "../errors.ts";
import { Experiment } from "../schema/experiment.ts";
import { GameDay } from "../schema/gameday.ts";
import { Scenario } from "../schema/scenario.ts";
import { scenarioProblems } from "./scenario-check.ts";
import { expandScenarios } from "./scenarios.ts";
import type { Origin } from "./scenarios.ts";
import { didYouMean, keyMessages } from "../schema/strict.ts";
import { Target } from "../schema/target.ts";
import { describeValue, quote } from "../text.ts";
import { parseYaml, readDocumentFile } from "./yaml.ts";

const SCHEMAS = { Experiment, Target, Scenario, GameDay } as const;
export type DocumentKind = keyof typeof SCHEMAS;
export type Parsed = { kind: "Experiment"; value: Experiment } | { kind: "Target"; value: Target } | { kind: "Scenario"; value: Scenario } | { kind: "GameDay"; value: GameDay };

export interface LoadedDocument {
  file: string;
  parsed: Parsed;
  source: string;
}

type Path = readonly PropertyKey[];

function position(lc: LineCounter, offset: number): { line: number; col: number } {
  const { line, col } = lc.linePos(offset);
  return { line, col };
}

/** The deepest node along `path` that exists, and whether it was reached whole. */
function locate(doc: Document, path: Path, keyOf = false): YamlNode | undefined {
  let node: unknown = doc.contents;
  let found = node as YamlNode | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) return found;
      if (keyOf && i === path.length - 1) return pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
    } else {
      return found;
    }
    if (node === null || node === undefined) return found;
    found = node as YamlNode;
  }
  return found;
}

function hasPath(doc: Document, path: Path): boolean {
  return path.length === 0 || doc.hasIn(path as unknown[]);
}

const PLAIN_KEY = /^[A-Za-z0-9_$-]{1,60}$/;

/** `faults[0].params.latency`; a key that is not a plain word is quoted (control characters escaped) and shortened. */
function pathText(path: Path): string {
  return path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : PLAIN_KEY.test(String(p)) ? `${i === 0 ? "" : "."}${String(p)}` : `[${quote(String(p), 40)}]`))
    .join("");
}

export function problemsFromIssues(
  file: string,
  doc: Document,
  lc: LineCounter,
  issues: z.core.$ZodIssue[],
  present: (path: Path) => boolean = (path) => hasPath(doc, path),
): Problem[] {
  const out: Problem[] = [];
  const at = (path: Path, keyOf: boolean): { line: number; col: number } => {
    const node = locate(doc, path, keyOf);
    if (node?.range === undefined || node.range === null) return { line: 0, col: 0 };
    return position(lc, node.range[0]);
  };
  // A misspelt required key is one mistake: its "unknown key, did you mean" line covers the missing key.
  const suggested = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    for (const m of keyMessages(issue.message, issue.keys)) {
      const guess = /did you mean "([^"]+)"/.exec(m)?.[1];
      if (guess !== undefined) suggested.add(pathText([...issue.path, guess]));
    }
  }
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const messages = keyMessages(issue.message, issue.keys);
      issue.keys.forEach((key, i) => {
        const path = [...issue.path, key];
        out.push({ file, ...at(path, true), path: pathText(path), message: messages[i] ?? `unknown key ${quote(key)}` });
      });
      continue;
    }
    const path: Path = issue.path;
    if (!present(path)) {
      if (suggested.has(pathText(path))) continue;
      const key = String(path.at(-1));
      out.push({ file, ...at(path, false), path: pathText(path), message: `missing required key "${key}": ${issue.message}` });
      continue;
    }
    out.push({ file, ...at(path, false), path: pathText(path), message: issue.message });
  }
  return out;
}

function problemAt(file: string, doc: Document, lc: LineCounter, path: Path, message: string, keyOf = false): Problem {
  const node = locate(doc, path, keyOf);
  const pos = node?.range ? position(lc, node.range[0]) : { line: 0, col: 0 };
  return { file, ...pos, path: pathText(path), message };
}

/** Problems with faults and assertions that came from a scenario are reported in the scenario file. */
function issuesToProblems(file: string, doc: Document, lc: LineCounter, issues: z.core.$ZodIssue[], origins: Map<string, Origin>): Problem[] {
  const own: z.core.$ZodIssue[] = [];
  const byOrigin = new Map<Origin, z.core.$ZodIssue[]>();
  for (const issue of issues) {
    const o = origins.get(`${String(issue.path[0])}.${String(issue.path[1])}`);
    if (o === undefined) {
      own.push(issue);
      continue;
    }
    byOrigin.set(o, [...(byOrigin.get(o) ?? []), { ...issue, path: [...o.path, ...issue.path.slice(2)] }]);
  }
  const out = problemsFromIssues(file, doc, lc, own);
  for (const [o, list] of byOrigin) {
    out.push(...problemsFromIssues(o.file, o.doc, o.lc, list).map((p) => ({ ...p, message: `${p.message} — ${o.usedAt}` })));
  }
  return out;
}

/** Problems past this many in one file are summed up in one line: the first ones are what to fix. */
export const MAX_PROBLEMS = 50;

function kindProblem(file: string, doc: Document, lc: LineCounter, kind: unknown): Problem {
  const valid = Object.keys(SCHEMAS);
  const node = locate(doc, ["kind"]);
  const where = { file, ...position(lc, node?.range?.[0] ?? doc.range?.[0] ?? 0), path: "kind" };
  if (kind === undefined) return { ...where, message: `missing "kind": expected one of ${valid.join(", ")}` };
  if (typeof kind !== "string") return { ...where, message: `kind must be a string, found ${describeValue(kind)} (valid: ${valid.join(", ")})` };
  const guess = didYouMean(kind, valid);
  return { ...where, message: `unknown kind ${quote(kind)}${guess ? `; did you mean "${guess}"?` : ""} (valid: ${valid.join(", ")})` };
}

/** Parses every YAML document in `source`, reporting all problems at once; never throws. */
export function parseDocuments(file: string, source: string): { docs: Parsed[]; problems: Problem[] } {
  const lc = new LineCounter();
  const docs: Parsed[] = [];
  const { docs: parsed, problems } = parseYaml(file, source, lc);
  for (const { doc, data } of parsed) {
    if (data === null || data === undefined) continue;
    const kind = typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>).kind : undefined;
    // own keys only: `kind: toString` names no schema
    if (typeof kind !== "string" || !Object.hasOwn(SCHEMAS, kind)) {
      problems.push(kindProblem(file, doc, lc, typeof data === "object" && data !== null && !Array.isArray(data) && Object.hasOwn(data, "kind") ? kind : undefined));
      continue;
    }
    let input = data;
    let origins = new Map<string, Origin>();
    if (kind === "Experiment") {
      const ex = expandScenarios(file, data as Record<string, unknown>, problemAt, { doc, lc }, problemsFromIssues);
      problems.push(...ex.problems);
      input = ex.data;
      origins = ex.origins;
      if (ex.problems.length > 0) continue;
    }
    const result = SCHEMAS[kind as DocumentKind].safeParse(input);
    if (!result.success) {
      problems.push(...issuesToProblems(file, doc, lc, result.error.issues.slice(0, MAX_PROBLEMS + 1), origins));
      continue;
    }
    if (kind === "Scenario") {
      // a scenario's own faults and assertions are checked as far as they do not wait for a parameter
      const own = scenarioProblems(result.data as Scenario, (issues) => problemsFromIssues(file, doc, lc, issues));
      if (own.length > 0) {
        problems.push(...own);
        continue;
      }
    }
    docs.push({ kind, value: result.data } as Parsed);
  }
  // this file's problems first, in order; then those found in the scenarios it uses
  problems.sort((a, b) => Number(a.file !== file) - Number(b.file !== file) || a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
  if (problems.length > MAX_PROBLEMS) {
    const more = problems.length - MAX_PROBLEMS;
    return { docs, problems: [...problems.slice(0, MAX_PROBLEMS), { file, line: 0, col: 0, path: "", message: `… and ${more} more problem(s) not shown` }] };
  }
  return { docs, problems };
}

export async function loadFile(file: string): Promise<LoadedDocument[]> {
  const source = readDocumentFile(file);
  const { docs, problems } = parseDocuments(file, source);
  if (problems.length > 0) throw new ValidationError(problems);
  if (docs.length === 0) {
    throw new ValidationError([{ file, line: 1, col: 1, path: "", message: "empty file: expected an Experiment, a Target, a Scenario or a GameDay" }]);
  }
  return docs.map((parsed) => ({ file, parsed, source }));
}

export async function loadOne(file: string, kind: "Experiment"): Promise<Experiment>;
export async function loadOne(file: string, kind: "Target"): Promise<Target>;
export async function loadOne(file: string, kind: "GameDay"): Promise<GameDay>;
export async function loadOne(file: string, kind: DocumentKind): Promise<Parsed["value"]> {
  const docs = await loadFile(file);
  const match = docs.find((d) => d.parsed.kind === kind);
  if (!match) {
    throw new ValidationError([{ file, line: 1, col: 1, path: "kind", message: `expected a document of kind ${kind}` }]);
  }
  return match.parsed.value;
}

/** Expands folders into the YAML files below them, sorted, so a suite runs in a stable order. */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch (cause) {
      throw new FaultlineError("E_FILE", `no such file or folder: ${p}`, { cause });
    }
    if (info.isDirectory()) {
      const entries = await readdir(p, { recursive: true });
      out.push(...entries.filter((e) => /\.ya?ml$/.test(e)).sort().map((e) => join(p, e)));
    } else {
      out.push(p);
    }
  }
  return out;
}
