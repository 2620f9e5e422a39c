import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { LineCounter, parseAllDocuments } from "yaml";
import type { Document } from "yaml";
import { z } from "zod";
import type { Problem } from "../errors.ts";
import { API_VERSION, Metadata, ParamValue, ScenarioUse } from "./experiment.ts";
import { didYouMean, strictObject } from "./strict.ts";

/**
 * Scenarios: reusable, parameterised faults (and the assertions that go with them) that experiments
 * pull in with `scenarios: [{ use: region-outage, with: { region: us-east } }]`. `${param}` in any
 * string of the scenario's faults and assertions is replaced by the value given (a string that is
 * exactly `${param}` takes the value with its type). The expanded faults and assertions are appended
 * to the experiment's own and validated with them; a problem inside one is reported at its line in
 * the scenario file, naming the experiment line that used it.
 */


export const ScenarioParam = strictObject({
  description: z.string().optional(),
  default: ParamValue.optional().meta({ description: "without one, every experiment that uses the scenario must give the parameter" }),
});

const ParamName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, "expected a name of letters, digits and _");

export const Scenario = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("Scenario"),
  metadata: Metadata,
  params: z.record(ParamName, ScenarioParam).default({}),
  faults: z.array(z.record(z.string(), z.unknown())).default([]).meta({ description: "faults as in an experiment; checked once the parameters are filled in" }),
  assertions: z.array(z.record(z.string(), z.unknown())).default([]).meta({ description: "assertions as in an experiment; checked once the parameters are filled in" }),
}).refine((s) => s.faults.length + s.assertions.length > 0, { message: "a scenario needs faults or assertions", path: ["faults"] });
export type Scenario = z.infer<typeof Scenario>;

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
  let out = readFileSync(experimentFile, "utf8");
  for (const file of new Set(uses.map((u) => resolveScenario(u.use, experimentFile).file))) {
    if (file === undefined) continue;
    out += `\n# ---- scenario ${relative(dirname(experimentFile), file)} ----\n${readFileSync(file, "utf8")}`;
  }
  return out;
}

const WHOLE = /^\$\{([A-Za-z][A-Za-z0-9_]*)\}$/;
const ANY = /\$\{([^}]*)\}/g;

/** Fills `${param}` in every string below `value`; unknown names are collected with their path. */
export function substitute(value: unknown, params: Record<string, ParamValue>, path: PropertyKey[], unknown: { path: PropertyKey[]; name: string }[]): unknown {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    if (whole) {
      const name = whole[1] as string;
      if (name in params) return params[name];
      unknown.push({ path, name });
      return value;
    }
    return value.replace(ANY, (m, name: string) => {
      if (name in params) return String(params[name]);
      unknown.push({ path, name });
      return m;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, params, [...path, i], unknown));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, params, [...path, k], unknown)]));
  }
  return value;
}

interface LoadedScenario {
  scenario: Scenario;
  doc: Document;
  lc: LineCounter;
}

type ProblemsAt = (file: string, doc: Document, lc: LineCounter, path: Path, message: string, keyOf?: boolean) => Problem;

function loadScenario(file: string, at: ProblemsAt, issuesToProblems: (file: string, doc: Document, lc: LineCounter, issues: z.core.$ZodIssue[]) => Problem[]): LoadedScenario | Problem[] {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch (cause) {
    return [{ file, line: 0, col: 0, path: "", message: `cannot read: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}` }];
  }
  const lc = new LineCounter();
  const docs = parseAllDocuments(source, { lineCounter: lc, prettyErrors: false });
  const doc = Array.isArray(docs) ? docs[0] : undefined;
  if (doc === undefined) return [{ file, line: 1, col: 1, path: "", message: "empty file: expected a Scenario" }];
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => ({ file, ...lc.linePos(e.pos[0]), path: "", message: `YAML syntax: ${e.message.split("\n")[0]}` }));
  }
  const result = Scenario.safeParse(doc.toJS());
  if (!result.success) {
    const kind = (doc.toJS() as { kind?: unknown } | null)?.kind;
    if (kind !== "Scenario") return [at(file, doc, lc, ["kind"], `expected kind: Scenario, found ${JSON.stringify(kind ?? null)}`)];
    return issuesToProblems(file, doc, lc, result.error.issues);
  }
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
      problems.push(expAt(["scenarios", k, "use"], `no scenario "${use.use}"${guess ? `; did you mean "${guess}"?` : ""}${found.known.length ? ` (have: ${found.known.join(", ")})` : ` (looked in ${found.tried.join(", ")})`}`));
      return;
    }
    const loaded = loadScenario(found.file, at, issuesToProblems);
    if (Array.isArray(loaded)) {
      problems.push(...loaded);
      return;
    }
    const { scenario, doc, lc } = loaded;
    const declared = Object.keys(scenario.params);
    for (const name of Object.keys(use.with)) {
      if (!(name in scenario.params)) {
        const guess = didYouMean(name, declared);
        problems.push(expAt(["scenarios", k, "with", name], `scenario "${use.use}" has no parameter "${name}"${guess ? `; did you mean "${guess}"?` : ""} (has: ${declared.join(", ") || "none"})`, true));
      }
    }
    const params: Record<string, ParamValue> = {};
    for (const [name, p] of Object.entries(scenario.params)) {
      const v = use.with[name] ?? p.default;
      if (v === undefined) {
        problems.push(expAt(["scenarios", k, "use"], `scenario "${use.use}" needs parameter "${name}"${p.description ? ` (${p.description})` : ""}: give it under with:`));
      } else {
        params[name] = v;
      }
    }
    const usedPos = expAt(["scenarios", k, "use"], "");
    const usedAt = `scenario "${use.use}" used at ${experimentFile}:${usedPos.line}`;
    for (const list of ["faults", "assertions"] as const) {
      scenario[list].forEach((item, j) => {
        const unknown: { path: PropertyKey[]; name: string }[] = [];
        const filled = substitute(item, params, [list, j], unknown);
        for (const u of unknown) {
          if (u.name in scenario.params) continue; // a missing parameter, reported above
          const guess = didYouMean(u.name, declared);
          problems.push(at(found.file as string, doc, lc, u.path, `\${${u.name}} names no parameter${guess ? `; did you mean "\${${guess}}"?` : ""} (declared: ${declared.join(", ") || "none"}) — ${usedAt}`));
        }
        origins.set(`${list}.${lists[list].length}`, { file: found.file as string, doc, lc, path: [list, j], usedAt });
        lists[list].push(filled);
      });
    }
  });
  out.faults = lists.faults;
  out.assertions = lists.assertions;
  return { data: out, origins, problems };
}
