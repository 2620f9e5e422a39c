import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { LineCounter } from "yaml";
import type { Document } from "yaml";
import type { z } from "zod";
import type { Problem } from "../errors.ts";
import { Assertion, Fault, ScenarioUse } from "../schema/experiment.ts";
import type { ParamValue } from "../schema/experiment.ts";
import { Scenario } from "../schema/scenario.ts";
import { didYouMean } from "../schema/strict.ts";
import { quote } from "../text.ts";
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

const WHOLE = /^\$\{([A-Za-z][A-Za-z0-9_]*)\}$/;
const ANY = /\$\{([^}]*)\}/g;

/** Fills `${param}` in every string below `value`; unknown names are collected with their path. */
export function substitute(value: unknown, params: Record<string, ParamValue>, path: PropertyKey[], unknown: { path: PropertyKey[]; name: string }[]): unknown {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    if (whole) {
      const name = whole[1] as string;
      if (Object.hasOwn(params, name)) return params[name];
      unknown.push({ path, name });
      return value;
    }
    return value.replace(ANY, (m, name: string) => {
      if (Object.hasOwn(params, name)) return String(params[name]);
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

/** Whether a placeholder (`${x}`) sits anywhere in `value`: what depends on a parameter is checked once it is filled. */
function hasPlaceholder(value: unknown): boolean {
  if (typeof value === "string") return value.includes("${");
  if (Array.isArray(value)) return value.some(hasPlaceholder);
  if (value !== null && typeof value === "object") return Object.values(value).some(hasPlaceholder);
  return false;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const seg of path) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, seg)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  return node;
}

/**
 * The problems a scenario has on its own: parameters whose defaults refer to each other in a circle,
 * `${x}` naming no parameter, and faults and assertions that are wrong whatever the parameters
 * (`kind: nonsense`, `duration: soon`). What still holds a placeholder after the defaults are filled
 * in is left for the experiment that gives the parameter.
 */
export function scenarioProblems(s: Scenario, toProblems: (issues: z.core.$ZodIssue[]) => Problem[]): Problem[] {
  const issues: z.core.$ZodIssue[] = [];
  const custom = (path: PropertyKey[], message: string): void => void issues.push({ code: "custom", path, message, input: undefined } as z.core.$ZodIssue);
  const declared = Object.keys(s.params);
  const givenDefaults: Record<string, ParamValue> = {};
  for (const [name, p] of Object.entries(s.params)) if (p.default !== undefined) givenDefaults[name] = p.default;
  const resolved = resolveParams(givenDefaults, declared);
  for (const c of resolved.problems) custom(["params", c.name, "default"], c.message);
  // a name must vary with a parameter the experiment has to give: two uses (us-east, us-west) then name two things
  const required = declared.filter((n) => s.params[n]?.default === undefined);
  for (const list of ["faults", "assertions"] as const) {
    s[list].forEach((item, j) => {
      const name = item.name;
      if (typeof name !== "string" || required.some((r) => name.includes(`\${${r}}`))) return;
      custom([list, j, "name"], `name ${quote(name)} takes no parameter without a default${required.length ? ` (${required.map((r) => `\${${r}}`).join(", ")})` : ""}: two uses of the scenario would give it twice; put one in it${required.length ? "" : ", or declare a parameter without a default for it"}`);
    });
  }
  const schemas = { faults: Fault, assertions: Assertion } as const;
  for (const list of ["faults", "assertions"] as const) {
    s[list].forEach((item, j) => {
      const unknown: { path: PropertyKey[]; name: string }[] = [];
      const filled = substitute(item, resolved.values, [], unknown);
      for (const u of unknown) {
        if (Object.hasOwn(s.params, u.name)) continue; // given by the experiment
        const guess = didYouMean(u.name, declared);
        custom([list, j, ...u.path], `\${${u.name}} names no parameter${guess ? `; did you mean "\${${guess}}"?` : ""} (declared: ${declared.join(", ") || "none"})`);
      }
      const r = schemas[list].safeParse(filled);
      if (r.success) return;
      for (const issue of r.error.issues) {
        // a discriminator that waits for a parameter decides the schema: nothing below it can be judged yet
        const kindField = valueAt(filled, [...issue.path, "kind"]) ?? valueAt(filled, [...issue.path, "type"]);
        if (issue.code === "invalid_union" && hasPlaceholder(kindField)) continue;
        if (hasPlaceholder(valueAt(filled, issue.path)) || hasPlaceholder(valueAt(filled, ["kind"]))) continue;
        issues.push({ ...issue, path: [list, j, ...issue.path] });
      }
    });
  }
  return issues.length > 0 ? toProblems(issues) : [];
}

/**
 * Parameter values may refer to other parameters (`default: "\${region}-a"`). Fills them in, and
 * reports a circle (`x` → `y` → `x`) or a reference to no parameter instead of leaving the literal.
 */
export function resolveParams(given: Record<string, ParamValue>, declared: readonly string[]): { values: Record<string, ParamValue>; problems: { name: string; message: string }[] } {
  const values: Record<string, ParamValue> = {};
  const problems: { name: string; message: string }[] = [];
  const failed = new Set<string>();
  const visit = (name: string, chain: string[]): ParamValue | undefined => {
    if (Object.hasOwn(values, name)) return values[name];
    if (failed.has(name) || !Object.hasOwn(given, name)) return undefined; // failed, or waits for the experiment
    if (chain.includes(name)) {
      const circle = chain.slice(chain.indexOf(name));
      for (const n of circle) failed.add(n);
      problems.push({ name, message: `parameter "${name}" refers to itself: ${[...circle, name].join(" → ")}` });
      return undefined;
    }
    const raw = given[name] as ParamValue;
    if (typeof raw !== "string" || !raw.includes("${")) return (values[name] = raw);
    const refs: Record<string, ParamValue> = {};
    for (const m of raw.matchAll(ANY)) {
      const ref = m[1] as string;
      if (!declared.includes(ref)) {
        failed.add(name);
        problems.push({ name, message: `\${${ref}} in the value of "${name}" names no parameter (declared: ${declared.join(", ") || "none"})` });
        return undefined;
      }
      const v = visit(ref, [...chain, name]);
      if (v === undefined) return undefined;
      refs[ref] = v;
    }
    return (values[name] = substitute(raw, refs, [], []) as ParamValue);
  };
  for (const name of Object.keys(given)) visit(name, []);
  return { values, problems };
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
