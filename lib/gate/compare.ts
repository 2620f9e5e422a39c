import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { FaultlineError } from "../errors.ts";
import { p, windowOf } from "../judge/context.ts";
import { readRunRecord } from "../loader/run-record.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";

/**
 * The regression gate: a run may pass every assertion and still be worse than the release before
 * it. Each metric below is "lower is better"; it regresses when it grows by more than its limit
 * (a fraction of the baseline) and by more than a small absolute floor, so that noise on tiny
 * values (a 20 ms failover becoming 30 ms) does not block a release.
 */
export const METRICS = {
  failover: { what: "failover time (failover assertions)", limit: 0.25, floorMs: 250 },
  p99: { what: "client p99 latency over the run, and slo/threshold latency assertions", limit: 0.2, floorMs: 25 },
  // alerts are evaluated every second or two: a couple of seconds either way is their resolution, not a regression
  alert: { what: "time until an alert fired (alert assertions)", limit: 0.25, floorMs: 2500 },
  rescheduled: { what: "time until lost replicas were Ready elsewhere (rescheduled assertions)", limit: 0.25, floorMs: 1000 },
  rollback: { what: "time until a bad rollout was rolled back (rollback assertions)", limit: 0.25, floorMs: 1000 },
} as const;
export type MetricName = keyof typeof METRICS;
export type Limits = Record<MetricName, number>;

export const DEFAULT_LIMITS: Limits = Object.fromEntries(Object.entries(METRICS).map(([k, v]) => [k, v.limit])) as Limits;

/** `failover=25%` or `p99=0.2`, repeatable; unknown names are refused with the known ones. */
export function parseLimits(specs: readonly string[]): Limits {
  const out = { ...DEFAULT_LIMITS };
  for (const spec of specs) {
    const m = /^([a-z0-9]+)=(\d+(?:\.\d+)?)(%?)$/.exec(spec.trim());
    if (m === null) throw new FaultlineError("E_INVALID_INPUT", `bad --max-regression "${spec}": expected METRIC=PERCENT%, e.g. failover=25%`);
    const name = m[1] as string;
    if (!(name in METRICS)) throw new FaultlineError("E_INVALID_INPUT", `--max-regression: unknown metric "${name}" (known: ${Object.keys(METRICS).join(", ")})`);
    const n = Number(m[2]);
    out[name as MetricName] = m[3] === "%" || n > 1 ? n / 100 : n;
  }
  return out;
}

export interface Delta {
  experiment: string;
  metric: MetricName;
  /** the assertion compared, or "run p99" */
  subject: string;
  baseline: number;
  current: number;
  unit: "ms";
  /** (current − baseline) / baseline */
  change: number;
  limit: number;
  regressed: boolean;
}

function metricOf(a: AssertionResult): MetricName | undefined {
  if (a.kind === "failover") return "failover";
  if (a.kind === "alert" && a.unit === "s") return "alert";
  if (a.kind === "rescheduled") return "rescheduled";
  if (a.kind === "rollback") return "rollback";
  if ((a.kind === "slo" || a.kind === "threshold") && a.unit === "ms") return "p99";
  return undefined;
}

/** Measured values in ms: the judges report failover in ms and alerts, rollbacks and rescheduling in s. */
function inMs(a: AssertionResult): number | null {
  if (a.measured === null || a.measured === undefined || !Number.isFinite(a.measured)) return null;
  return a.unit === "s" ? a.measured * 1000 : a.unit === "ms" ? a.measured : null;
}

export function compareRuns(baseline: RunRecord, current: RunRecord, limits: Limits = DEFAULT_LIMITS): Delta[] {
  const out: Delta[] = [];
  const add = (metric: MetricName, subject: string, b: number, c: number): void => {
    const change = b > 0 ? (c - b) / b : c > 0 ? Infinity : 0;
    const regressed = change > limits[metric] && c - b > METRICS[metric].floorMs;
    out.push({ experiment: current.experiment.name, metric, subject, baseline: b, current: c, unit: "ms", change, limit: limits[metric], regressed });
  };
  const before = new Map(baseline.assertions.map((a) => [a.name, a]));
  for (const a of current.assertions) {
    const metric = metricOf(a);
    const b = before.get(a.name);
    // an inconclusive measurement (here or in the baseline) is not compared: it may be the instrument's
    if (metric === undefined || b === undefined || b.kind !== a.kind || a.verdict === "inconclusive" || b.verdict === "inconclusive") continue;
    const [bv, cv] = [inMs(b), inMs(a)];
    if (bv !== null && cv !== null) add(metric, a.name, bv, cv);
  }
  const runP99 = (r: RunRecord): number | null => (r.series.load ? p(r.series.load, windowOf(r, "run"), "p99") : null);
  const [bp, cp] = [runP99(baseline), runP99(current)];
  if (bp !== null && cp !== null) add("p99", "run p99", bp, cp);
  return out;
}

/**
 * The baseline runs by experiment name: RUN_DIR is one run folder (with run.json), or a folder of
 * them (a previous `--out`), where the newest run of each experiment that passed is taken.
 */
export async function loadBaselines(dir: string): Promise<Map<string, { record: RunRecord; runDir: string }>> {
  const out = new Map<string, { record: RunRecord; runDir: string }>();
  if (!existsSync(dir)) throw new FaultlineError("E_FILE", `no baseline at ${dir}`);
  const candidates = existsSync(join(dir, "run.json")) ? [dir] : readdirSync(dir).map((d) => join(dir, d)).filter((d) => statSync(d).isDirectory() && existsSync(join(d, "run.json")));
  for (const runDir of candidates) {
    const record = await readRunRecord(join(runDir, "run.json"));
    if (record.verdict !== "pass" && candidates.length > 1) continue;
    const have = out.get(record.experiment.name);
    if (have === undefined || have.record.startedAt < record.startedAt) out.set(record.experiment.name, { record, runDir });
  }
  if (out.size === 0) throw new FaultlineError("E_FILE", `no passing run.json under ${dir} to compare against`);
  return out;
}

const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);
const sign = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${(x * 100).toFixed(0)} %` : "new");

/** The gate's part of summary.md: every compared metric with its delta, regressions first. */
export function deltasMarkdown(deltas: readonly Delta[], missing: readonly string[], inconclusive: readonly string[] = []): string {
  const rows = [...deltas].sort((a, b) => Number(b.regressed) - Number(a.regressed) || a.experiment.localeCompare(b.experiment));
  const lines = [
    `### Regression gate: ${deltas.filter((d) => d.regressed).length} regressed of ${deltas.length} compared`,
    "",
    "| | experiment | metric | baseline | now | change | limit |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((d) => `| ${d.regressed ? "❌" : "✅"} | ${d.experiment} | ${d.subject} | ${fmt(d.baseline)} | ${fmt(d.current)} | ${sign(d.change)} | +${(d.limit * 100).toFixed(0)} % |`),
  ];
  if (missing.length > 0) lines.push("", `No baseline for: ${missing.join(", ")} (not compared).`);
  if (inconclusive.length > 0) lines.push("", `Inconclusive — run again: ${inconclusive.join(", ")} (the instrument could not tell; not a pass).`);
  return `${lines.join("\n")}\n`;
}
