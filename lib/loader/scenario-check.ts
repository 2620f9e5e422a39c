import type { z } from "zod";
import type { Problem } from "../errors.ts";
import { Assertion, Fault } from "../schema/experiment.ts";
import type { ParamValue } from "../schema/experiment.ts";
import type { Scenario } from "../schema/scenario.ts";
import { didYouMean } from "../schema/strict.ts";
import { quote } from "../text.ts";
import { ANY, substitute } from "./substitute.ts";

/** What a scenario file must get right on its own, before any experiment uses it. */

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

