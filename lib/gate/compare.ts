import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { FaultlineError } from "../errors.ts";
import { readRunRecord } from "../loader/run-record.ts";
import { measurementsOf } from "../judge/measurements.ts";
import { mannWhitneyGreater } from "../judge/stats.ts";
import { listRepeats } from "../report/write.ts";
import type { RepeatRecord } from "../schema/repeat-record.ts";
import type { RunRecord } from "../schema/run-record.ts";

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
/** With repeats on both sides, a metric regresses only if a one-sided Mann–Whitney test says so at this level. */
export const SIGNIFICANCE = 0.05;
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
  /** with repeats on both sides: baseline and current are medians, and the rank test's result */
  test?: { p: number; exact: boolean; baselineRuns: number; currentRuns: number };
}

export function compareRuns(baseline: RunRecord, current: RunRecord, limits: Limits = DEFAULT_LIMITS): Delta[] {
  const out: Delta[] = [];
  const before = new Map(measurementsOf(baseline).map((m) => [`${m.metric} ${m.subject}`, m]));
  for (const m of measurementsOf(current)) {
    const b = before.get(`${m.metric} ${m.subject}`);
    // availability is reported, not gated (its SLO assertions gate it); inconclusive values are left out already
    if (b === undefined || m.metric === "availability") continue;
    out.push(delta(current.experiment.name, m.metric, m.subject, b.value, m.value, limits));
  }
  return out;
}

function delta(experiment: string, metric: MetricName, subject: string, b: number, c: number, limits: Limits, test?: Delta["test"]): Delta {
  const change = b > 0 ? (c - b) / b : c > 0 ? Infinity : 0;
  const big = change > limits[metric] && c - b > METRICS[metric].floorMs;
  return { experiment, metric, subject, baseline: b, current: c, unit: "ms", change, limit: limits[metric], regressed: big && (test === undefined || test.p < SIGNIFICANCE), ...(test ? { test } : {}) };
}

/**
 * With repeats on both sides, distributions are compared, as a canary judge does: a metric regresses
 * when a one-sided Mann–Whitney test says the current runs are slower (p < 0.05) and the medians
 * moved by more than the limit and the floor. Noise that a single run would turn into a red gate
 * then needs to repeat itself before it counts.
 */
export function compareRepeats(baseline: RepeatRecord, current: RepeatRecord, limits: Limits = DEFAULT_LIMITS): Delta[] {
  const before = new Map(baseline.metrics.map((m) => [`${m.metric} ${m.subject}`, m]));
  const out: Delta[] = [];
  for (const m of current.metrics) {
    const b = before.get(`${m.metric} ${m.subject}`);
    if (b === undefined || !(m.metric in METRICS)) continue;
    const t = mannWhitneyGreater(b.values, m.values);
    out.push(delta(current.experiment, m.metric as MetricName, m.subject, b.spread.median, m.spread.median, limits, { p: t.p, exact: t.exact, baselineRuns: b.values.length, currentRuns: m.values.length }));
  }
  return out;
}

/** The newest repeat record (not a calibration) of each experiment in a baseline folder. */
export async function loadBaselineRepeats(dir: string): Promise<Map<string, RepeatRecord>> {
  const out = new Map<string, RepeatRecord>();
  for (const { record } of await listRepeats(dir)) if (record.kind === "repeat" && !out.has(record.experiment)) out.set(record.experiment, record);
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
  const tested = deltas.filter((d) => d.test !== undefined);
  const single = deltas.length - tested.length;
  const rule = [
    tested.length > 0 ? `${tested.length} compared as distributions (medians shown; regressed = one-sided Mann–Whitney p < ${SIGNIFICANCE} and the median past the limit)` : "",
    single > 0 ? `${single} compared run against run (one run on a side: repeat both with \`--repeat N\` to compare distributions)` : "",
  ].filter(Boolean);
  const rows = [...deltas].sort((a, b) => Number(b.regressed) - Number(a.regressed) || a.experiment.localeCompare(b.experiment));
  const lines = [
    `### Regression gate: ${deltas.filter((d) => d.regressed).length} regressed of ${deltas.length} compared`,
    "",
    ...(rule.length > 0 ? [`${rule.join("; ")}.`, ""] : []),
    "| | experiment | metric | baseline | now | change | limit | test |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map((d) => `| ${d.regressed ? "❌" : "✅"} | ${d.experiment} | ${d.subject} | ${fmt(d.baseline)} | ${fmt(d.current)} | ${sign(d.change)} | +${(d.limit * 100).toFixed(0)} % | ${d.test ? `p = ${d.test.p.toFixed(3)} (${d.test.baselineRuns} vs ${d.test.currentRuns} runs)` : "single runs"} |`),
  ];
  if (missing.length > 0) lines.push("", `No baseline for: ${missing.join(", ")} (not compared).`);
  if (inconclusive.length > 0) lines.push("", `Inconclusive — run again: ${inconclusive.join(", ")} (the instrument could not tell; not a pass).`);
  return `${lines.join("\n")}\n`;
}
