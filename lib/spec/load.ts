import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import type { z } from "zod";
import { FaultlineError, ValidationError } from "../errors.ts";
import type { Problem } from "../errors.ts";
import { Experiment } from "./experiment.ts";
import { GameDay } from "./gameday.ts";
import { Scenario, expandScenarios } from "./scenario.ts";
import type { Origin } from "./scenario.ts";
import { KEY_MESSAGE_SEPARATOR, didYouMean } from "./strict.ts";
import { Target } from "./target.ts";

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

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`)).join("");
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
    for (const m of issue.message.split(KEY_MESSAGE_SEPARATOR)) {
      const guess = /did you mean "([^"]+)"/.exec(m)?.[1];
      if (guess !== undefined) suggested.add(pathText([...issue.path, guess]));
    }
  }
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const messages = issue.message.split(KEY_MESSAGE_SEPARATOR);
      issue.keys.forEach((key, i) => {
        const path = [...issue.path, key];
        out.push({ file, ...at(path, true), path: pathText(path), message: messages[i] ?? `unknown key "${key}"` });
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

/** Parses every YAML document in `source`, reporting all problems at once. */
export function parseDocuments(file: string, source: string): { docs: Parsed[]; problems: Problem[] } {
  const lc = new LineCounter();
  const docs: Parsed[] = [];
  const problems: Problem[] = [];
  for (const doc of parseAllDocuments(source, { lineCounter: lc, prettyErrors: false })) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        problems.push({ file, ...position(lc, e.pos[0]), path: "", message: `YAML syntax: ${e.message.split("\n")[0]}` });
      }
      continue;
    }
    const data: unknown = doc.toJS();
    if (data === null || data === undefined) continue;
    const kind = typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>).kind : undefined;
    if (typeof kind !== "string" || !(kind in SCHEMAS)) {
      const valid = Object.keys(SCHEMAS);
      const guess = typeof kind === "string" ? didYouMean(kind, valid) : undefined;
      const node = locate(doc, ["kind"]);
      problems.push({
        file,
        ...position(lc, node?.range?.[0] ?? 0),
        path: "kind",
        message:
          kind === undefined
            ? `missing "kind": expected one of ${valid.join(", ")}`
            : `unknown kind "${String(kind)}"${guess ? `; did you mean "${guess}"?` : ""} (valid: ${valid.join(", ")})`,
      });
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
    if (result.success) docs.push({ kind, value: result.data } as Parsed);
    else problems.push(...issuesToProblems(file, doc, lc, result.error.issues, origins));
  }
  // this file's problems first, in order; then those found in the scenarios it uses
  problems.sort((a, b) => Number(a.file !== file) - Number(b.file !== file) || a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
  return { docs, problems };
}

export async function loadFile(file: string): Promise<LoadedDocument[]> {
  let source: string;
  try {
    source = await readFile(file, "utf8");
  } catch (cause) {
    throw new FaultlineError("E_FILE", `cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? cause}`, { cause });
  }
  const { docs, problems } = parseDocuments(file, source);
  if (problems.length > 0) throw new ValidationError(problems);
  if (docs.length === 0) {
    throw new ValidationError([{ file, line: 1, col: 1, path: "", message: "empty file: expected an Experiment, a Target or a Scenario" }]);
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
