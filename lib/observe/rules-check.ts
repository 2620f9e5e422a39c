import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { parser } from "@prometheus-io/lezer-promql";
import { parse } from "yaml";
import { FaultlineError } from "../errors.ts";

/** Functions that yield a value when their argument has no series: a rule reading them can fire on absence. */
const EXPECTS_ABSENCE = new Set(["absent", "absent_over_time"]);

/** The parsed expression's node type, as the grammar names it, and its children. */
type Node = NonNullable<ReturnType<ReturnType<typeof parser.parse>["topNode"]["getChild"]>>;

function children(n: Node): Node[] {
  const out: Node[] = [];
  for (let c = n.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

/**
 * The series selectors an expression reads (Prometheus' own PromQL grammar, the parser its UI
 * uses), and whether it can yield a value when only `exists` selectors have series: `a or b`
 * needs either side, `a unless b` its left, `absent(x)` nothing, anything else all its parts.
 */
export function analyse(expr: string, exists: (selector: string) => boolean = () => true): { selectors: string[]; canFire: boolean } {
  const selectors = new Set<string>();
  const walk = (n: Node): boolean => {
    if (n.name === "VectorSelector") {
      const sel = expr.slice(n.from, n.to).trim();
      selectors.add(sel);
      return exists(sel);
    }
    const parts = children(n);
    if (n.name === "FunctionCall") {
      const fn = n.getChild("FunctionIdentifier");
      const ok = parts.map(walk).every(Boolean);
      return fn !== null && EXPECTS_ABSENCE.has(expr.slice(fn.from, fn.to)) ? true : ok;
    }
    if (n.name === "BinaryExpr" && parts.length >= 3) {
      const lhs = walk(parts[0] as Node);
      const rhs = walk(parts.at(-1) as Node);
      const op = parts[1]?.name;
      return op === "Or" ? lhs || rhs : op === "Unless" ? lhs : lhs && rhs;
    }
    return parts.map(walk).every(Boolean);
  };
  const canFire = walk(parser.parse(expr).topNode);
  return { selectors: [...selectors], canFire };
}

/** The series selectors an expression reads, each once. */
export function selectorsOf(expr: string): string[] {
  return analyse(expr).selectors;
}

/** The PromQL syntax errors the grammar found (empty when it parsed). */
function syntaxErrors(expr: string): number[] {
  const at: number[] = [];
  parser.parse(expr).iterate({ enter: (n) => void (n.type.isError && at.push(n.from)) });
  return at;
}

export interface RuleSeries {
  group: string;
  /** the alert or recording rule's name */
  rule: string;
  expr: string;
  /** every selector it reads, with the series Prometheus has for it over the look-back */
  reads: { selector: string; series: number }[];
  /** whether it can yield a value with the series that exist (a missing side of `or` does not stop it) */
  canFire: boolean;
}

interface RuleFile {
  groups?: { name?: string; rules?: { alert?: string; record?: string; expr?: string }[] }[];
}

/** Every rule in a Prometheus rule file, with its group and expression. */
export function rulesIn(file: string): { group: string; rule: string; expr: string }[] {
  let doc: RuleFile;
  try {
    doc = parse(readFileSync(file, "utf8")) as RuleFile;
  } catch (e) {
    throw new FaultlineError("E_FILE", `${file}: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || !Array.isArray(doc.groups)) throw new FaultlineError("E_INVALID_INPUT", `${file}: not a Prometheus rule file (no groups: list)`);
  return doc.groups.flatMap((g, i) => (g.rules ?? []).map((r) => ({ group: g.name ?? `#${i + 1}`, rule: r.alert ?? r.record ?? "(unnamed)", expr: String(r.expr ?? "") })));
}

/** promtool's own check of the file (syntax, types, durations): its verdict and what it printed. */
export async function promtoolCheck(file: string, promtool = "promtool"): Promise<{ ok: boolean; output: string }> {
  try {
    const r = await promisify(execFile)(promtool, ["check", "rules", file], { timeout: 30_000 });
    return { ok: true, output: `${r.stdout}${r.stderr}`.trim() };
  } catch (e) {
    const x = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (x.code === "ENOENT") throw new FaultlineError("E_TOOL", `${promtool} not found: it ships with Prometheus (Debian: apt-get install prometheus)`);
    return { ok: false, output: `${x.stdout ?? ""}${x.stderr ?? ""}`.trim() };
  }
}

/** How many series Prometheus holds for a selector over the last `lookbackS` seconds. */
async function seriesCount(url: string, selector: string, lookbackS: number): Promise<number> {
  const now = Date.now() / 1000;
  const q = `${url}/api/v1/series?match[]=${encodeURIComponent(selector)}&start=${now - lookbackS}&end=${now}`;
  let body: { status: string; error?: string; data?: unknown[] };
  try {
    body = (await (await fetch(q, { signal: AbortSignal.timeout(10_000) })).json()) as typeof body;
  } catch (e) {
    throw new FaultlineError("E_TOOL", `Prometheus at ${url} did not answer a series query: ${(e as Error).message}`);
  }
  if (body.status !== "success") throw new FaultlineError("E_TOOL", `Prometheus refused the selector ${selector}: ${body.error}`);
  return body.data?.length ?? 0;
}

/** For every rule in the file, the series each of its selectors matches in the Prometheus at `url`. */
export async function ruleSeries(file: string, url: string, lookbackS: number): Promise<RuleSeries[]> {
  const out: RuleSeries[] = [];
  const counts = new Map<string, number>();
  for (const r of rulesIn(file)) {
    if (syntaxErrors(r.expr).length > 0) throw new FaultlineError("E_INVALID_INPUT", `${file}: rule ${r.rule}: not PromQL: ${r.expr}`);
    const reads: RuleSeries["reads"] = [];
    for (const selector of selectorsOf(r.expr)) {
      let n = counts.get(selector);
      if (n === undefined) counts.set(selector, (n = await seriesCount(url, selector, lookbackS)));
      reads.push({ selector, series: n });
    }
    const have = new Map(reads.map((x) => [x.selector, x.series > 0]));
    out.push({ ...r, reads, canFire: analyse(r.expr, (sel) => have.get(sel) ?? false).canFire });
  }
  return out;
}
