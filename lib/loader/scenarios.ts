import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { LineCounter } from "yaml";
import type { Document } from "yaml";
import type { z } from "zod";
import type { Problem } from "../errors.ts";
import { ScenarioUse } from "../schema/experiment.ts";
import type { ParamValue } from "../schema/experiment.ts";
import { Scenario } from "../schema/scenario.ts";
import { didYouMean } from "../schema/strict.ts";
import { quote } from "../text.ts";
import { resolveParams, scenarioProblems } from "./scenario-check.ts";
import { substitute } from "./substitute.ts";
import { UnreadableFile, parseYaml, readDocumentFile } from "./yaml.ts";

/**
 * Scenarios: reusable, parameterised faults (and the assertions that go with them) that experiments
 * pull in with `scenarios: [{ use: region-outage, with: { region: us-east } }]`. `${param}` in any
 * string of the scenario's faults and assertions is replaced by the value given (a string that is
 * exactly `${param}` takes the value with its type). The expanded faults and assertions are appended
 * to the experiment's own and validated with them; a problem inside one is reported at its line in
 * the scenario file, naming the experiment line that used it.
 */


type Path = readonly PropertyKey[];

/** Where an expanded fault or assertion came from, to report its problems there. */
export interface Origin {
  file: string;
  doc: Document;
  lc: LineCounter;
  /** its path inside the scenario document, e.g. ["faults", 0] */
  path: Path;
  /** "scenario \"x\" used at experiments/e.yaml:12" */
  usedAt: string;
}

export interface Expansion {
  /** the experiment's data with the scenarios' faults and assertions appended */
  data: Record<string, unknown>;
  /** key "faults.3" → origin of the fourth fault, when it came from a scenario */
  origins: Map<string, Origin>;
  problems: Problem[];
}

/** Folders searched for `use: <name>`: `scenarios/` in the experiment's folder, then in each folder above it (four levels). */
export function scenarioDirs(experimentFile: string): string[] {
  const out: string[] = [];
  let dir = resolve(dirname(experimentFile));
  for (let i = 0; i < 5; i++) {
    out.push(join(dir, "scenarios"));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

function resolveScenario(use: string, experimentFile: string): { file?: string; tried: string[]; known: string[] } {
  if (use.includes("/") || /\.ya?ml$/.test(use)) {
    const file = isAbsolute(use) ? use : resolve(dirname(experimentFile), use);
    return existsSync(file) ? { file, tried: [file], known: [] } : { tried: [file], known: [] };
  }
  const dirs = scenarioDirs(experimentFile);
  const known = new Set<string>();
  for (const d of dirs) {
    for (const ext of [".yaml", ".yml"]) {
      const file = join(d, use + ext);
      if (existsSync(file)) return { file, tried: [], known: [] };
    }
    if (existsSync(d)) for (const e of readdirSync(d)) if (/\.ya?ml$/.test(e)) known.add(basename(e).replace(/\.ya?ml$/, ""));
  }
  return { tried: dirs, known: [...known].sort() };
}

/** The experiment's text followed by that of every scenario it uses, for the report and post-mortems. */
export function sourceWithScenarios(experimentFile: string, uses: readonly { use: string }[]): string {
  let out = readDocumentFile(experimentFile);
  for (const file of new Set(uses.map((u) => resolveScenario(u.use, experimentFile).file))) {
    if (file === undefined) continue;
    out += `\n# ---- scenario ${relative(dirname(experimentFile), file)} ----\n${readDocumentFile(file)}`;
  }
  return out;
}

interface LoadedScenario {
  scenario: Scenario;
  doc: Document;
  lc: LineCounter;
}

type ProblemsAt = (file: string, doc: Document, lc: LineCounter, path: Path, message: string, keyOf?: boolean) => Problem;

function loadScenario(file: string, at: ProblemsAt, issuesToProblems: (file: string, doc: Document, lc: LineCounter, issues: z.core.$ZodIssue[]) => Problem[]): LoadedScenario | Problem[] | UnreadableFile {
  let source: string;
  try {
    source = readDocumentFile(file);
  } catch (err) {
    if (!(err instanceof UnreadableFile)) throw err;
    return err;
  }
  const lc = new LineCounter();
  const { docs, problems } = parseYaml(file, source, lc);
  if (problems.length > 0) return problems;
  const first = docs[0];
  if (first === undefined) return [{ file, line: 1, col: 1, path: "", message: "empty file: expected a Scenario" }];
  const { doc, data } = first;
  const result = Scenario.safeParse(data);
  if (!result.success) {
    const kind = data !== null && typeof data === "object" && Object.hasOwn(data, "kind") ? (data as { kind?: unknown }).kind : undefined;
    if (kind !== "Scenario") return [at(file, doc, lc, ["kind"], `expected kind: Scenario, found ${kind === undefined ? "none" : quote(kind)}`)];
    return issuesToProblems(file, doc, lc, result.error.issues);
  }
  const own = scenarioProblems(result.data, (issues) => issuesToProblems(file, doc, lc, issues));
  if (own.length > 0) return own;
  return { scenario: result.data, doc, lc };
}

/**
 * Appends the faults and assertions of every scenario the experiment uses. Problems with the
 * references themselves (unknown scenario, unknown or missing parameter, `${x}` with no such
 * parameter) come back here; problems with the expanded items show up when the experiment is
 * validated, and `origins` maps them back.
 */
export function expandScenarios(
  experimentFile: string,
  data: Record<string, unknown>,
  at: ProblemsAt,
  experimentDoc: { doc: Document; lc: LineCounter },
  issuesToProblems: (file: string, doc: Document, lc: LineCounter, issues: z.core.$ZodIssue[]) => Problem[],
): Expansion {
  const origins = new Map<string, Origin>();
  const problems: Problem[] = [];
  const uses = data.scenarios;
  if (!Array.isArray(uses) || uses.length === 0) return { data, origins, problems };
  const out: Record<string, unknown> = { ...data };
  const lists = { faults: Array.isArray(data.faults) ? [...(data.faults as unknown[])] : [], assertions: Array.isArray(data.assertions) ? [...(data.assertions as unknown[])] : [] };
  const expAt = (path: Path, message: string, keyOf = false): Problem => at(experimentFile, experimentDoc.doc, experimentDoc.lc, path, message, keyOf);
  uses.forEach((raw, k) => {
    const parsed = ScenarioUse.safeParse(raw);
    if (!parsed.success) return; // the experiment's own validation reports a malformed reference
    const use = parsed.data;
    const found = resolveScenario(use.use, experimentFile);
    if (found.file === undefined) {
      const guess = didYouMean(use.use, found.known);
      problems.push(expAt(["scenarios", k, "use"], `no scenario ${quote(use.use)}${guess ? `; did you mean "${guess}"?` : ""}${found.known.length ? ` (have: ${found.known.join(", ")})` : ` (looked in ${found.tried.join(", ")})`}`));
      return;
    }
    const loaded = loadScenario(found.file, at, issuesToProblems);
    if (loaded instanceof UnreadableFile) {
      problems.push(expAt(["scenarios", k, "use"], `scenario ${quote(use.use)}: cannot read ${found.file}: ${loaded.reason}`));
      return;
    }
    if (Array.isArray(loaded)) {
      problems.push(...loaded);
      return;
    }
    const { scenario, doc, lc } = loaded;
    const declared = Object.keys(scenario.params);
    for (const name of Object.keys(use.with)) {
      if (!Object.hasOwn(scenario.params, name)) {
        const guess = didYouMean(name, declared);
        problems.push(expAt(["scenarios", k, "with", name], `scenario "${use.use}" has no parameter ${quote(name)}${guess ? `; did you mean "${guess}"?` : ""} (has: ${declared.join(", ") || "none"})`, true));
      }
    }
    const given: Record<string, ParamValue> = {};
    for (const [name, p] of Object.entries(scenario.params)) {
      const v = Object.hasOwn(use.with, name) ? use.with[name] : p.default;
      if (v === undefined) {
        problems.push(expAt(["scenarios", k, "use"], `scenario "${use.use}" needs parameter "${name}"${p.description ? ` (${p.description})` : ""}: give it under with:`));
      } else {
        given[name] = v;
      }
    }
    const { values: params, problems: circles } = resolveParams(given, declared);
    for (const c of circles) problems.push(expAt(["scenarios", k, Object.hasOwn(use.with, c.name) ? "with" : "use", ...(Object.hasOwn(use.with, c.name) ? [c.name] : [])], `scenario "${use.use}": ${c.message}`));
    const usedPos = expAt(["scenarios", k, "use"], "");
    const usedAt = `scenario "${use.use}" used at ${experimentFile}:${usedPos.line}`;
    for (const list of ["faults", "assertions"] as const) {
      scenario[list].forEach((item, j) => {
        // a name left unfilled is a missing parameter or a circle, reported above
        const filled = substitute(item, params, [list, j], []);
        origins.set(`${list}.${lists[list].length}`, { file: found.file as string, doc, lc, path: [list, j], usedAt });
        lists[list].push(filled);
      });
    }
  });
  out.faults = lists.faults;
  out.assertions = lists.assertions;
  return { data: out, origins, problems };
}
