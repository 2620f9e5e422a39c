import { BUCKET_MS } from "../schema/series.ts";
import type { PromotionAssertion, RollbackAssertion, TrafficSplitAssertion } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import type { z } from "zod";
import { bucketsIn, events, evidenceRow, faultOf, missing, p, pct, stats, windowOf } from "./context.ts";

const SETTLE_WINDOW_MS = 5000;

/**
 * After a bad rollout: the controller rolls back within `within`; then, within `settleWithin`,
 * a 5 s window has error rate and p95 within tolerance of the baseline and only the stable
 * version serving.
 */
export function judgeRollback(a: z.infer<typeof RollbackAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const fault = faultOf(record, a.fault);
  const series = record.series.load;
  const t0 = fault?.injectedAt;
  const run = windowOf(record, "run");
  if (t0 === undefined) return missing(base, run, `fault ${a.fault} never took effect`);
  if (series === undefined) return missing(base, run, "no load series");
  const baseline = windowOf(record, "baseline");
  const b = stats(bucketsIn(series, baseline));
  const p95b = p(series, baseline, "p95");
  if (b.errorRate === null || p95b === null) return missing(base, baseline, "no load in the baseline to compare against");
  const stable = a.stableVersion ?? Object.entries(b.versions).sort((x, y) => y[1] - x[1])[0]?.[0];
  // answers that name no version cannot show that only the stable one serves: no verdict from nothing
  if (stable === undefined) return missing(base, baseline, "no answer in the baseline named its version (the x-faultline-version header), so which one is stable is unknown");
  const rolled = events(record, "rollout.rolled-back").find((e) => e.t >= t0);
  const w = { start: t0, end: t0 + a.within };
  if (rolled === undefined || rolled.t > w.end) {
    return {
      ...base,
      verdict: "fail",
      measured: rolled ? rolled.t - t0 : null,
      limit: a.within,
      unit: "ms",
      window: w,
      message: rolled
        ? `rolled back after ${((rolled.t - t0) / 1000).toFixed(1)}s, later than ${a.within / 1000}s`
        : `the rollout was never rolled back (${events(record, (t) => t.startsWith("rollout.")).map((e) => e.message).slice(-1)[0] ?? "no rollout events"})`,
      evidence: events(record, (t) => t.startsWith("rollout.")).slice(0, 20),
    };
  }
  if (a.alert !== undefined) {
    const fired = events(record, "alert.firing").find((e) => e.t >= t0 && (e.data?.labels as Record<string, string> | undefined)?.alertname === a.alert);
    if (fired === undefined) {
      return { ...base, verdict: "fail", measured: rolled.t - t0, limit: a.within, unit: "ms", window: w, message: `rolled back after ${((rolled.t - t0) / 1000).toFixed(1)}s, but ${a.alert} never fired`, evidence: [rolled] };
    }
  }
  // the rollback budget's clock: the analysis that failed (the stack's controller: ok false; Argo: an AnalysisRun Failed or Error)
  const failedAnalysis = events(record, "rollout.analysis").find((e) => e.t >= t0 && e.t <= rolled.t && (e.data?.ok === false || e.data?.phase === "Failed" || e.data?.phase === "Error"));
  const budgetFrom = failedAnalysis?.t ?? rolled.t;
  const errLimit = b.errorRate + a.errorRateTolerance;
  const p95Limit = p95b * a.p95Ratio;
  const per = SETTLE_WINDOW_MS / BUCKET_MS;
  const start = series.buckets.findIndex((x) => x.t >= rolled.t);
  const rows: Record<string, unknown>[] = [];
  for (let i = Math.max(0, start); i + per <= series.buckets.length; i++) {
    const b0 = series.buckets[i]!;
    if (b0.t > rolled.t + a.settleWithin) break;
    const win = { start: b0.t, end: b0.t + SETTLE_WINDOW_MS };
    const s = stats(series.buckets.slice(i, i + per));
    const p95 = p(series, win, "p95");
    const onlyStable = Object.keys(s.versions).length > 0 && Object.keys(s.versions).every((v) => v === stable);
    if ((i - start) % 10 === 0) rows.push(evidenceRow(b0.t, s, { p95, versions: s.versions }));
    if (s.errorRate !== null && s.errorRate <= errLimit && p95 !== null && p95 <= p95Limit && onlyStable) {
      const spent = b0.t - budgetFrom;
      if (a.budget !== undefined && spent > a.budget) {
        return {
          ...base,
          verdict: "fail",
          measured: spent,
          limit: a.budget,
          unit: "ms",
          window: { start: budgetFrom, end: win.end },
          message: `only ${stable} serving ${(spent / 1000).toFixed(1)}s after ${failedAnalysis ? "the analysis failed" : "the roll-back"}, past the rollback budget of ${a.budget / 1000}s`,
          evidence: [...(failedAnalysis ? [failedAnalysis] : []), rolled, ...rows.slice(-10)],
        };
      }
      return {
        ...base,
        verdict: "pass",
        measured: rolled.t - t0,
        limit: a.within,
        unit: "ms",
        window: { start: t0, end: win.end },
        message: `rolled back after ${((rolled.t - t0) / 1000).toFixed(1)}s; ${((b0.t - rolled.t) / 1000).toFixed(1)}s later error rate ${pct(s.errorRate)} (baseline ${pct(b.errorRate)}), p95 ${p95.toFixed(0)}ms (baseline ${p95b.toFixed(0)}ms), only ${stable} serving${a.budget !== undefined ? `: ${(spent / 1000).toFixed(1)}s after ${failedAnalysis ? "the analysis failed" : "the roll-back"} (budget ${a.budget / 1000}s)` : ""}`,
        evidence: [rolled, ...rows.slice(-10)],
      };
    }
  }
  return {
    ...base,
    verdict: "fail",
    measured: rolled.t - t0,
    limit: a.within,
    unit: "ms",
    window: { start: rolled.t, end: rolled.t + a.settleWithin },
    message: `rolled back after ${((rolled.t - t0) / 1000).toFixed(1)}s, but within ${a.settleWithin / 1000}s the service did not return to baseline (error ≤ ${pct(errLimit)}, p95 ≤ ${p95Limit.toFixed(0)}ms, only ${stable})`,
    evidence: [rolled, ...rows.slice(0, 30)],
  };
}

/** A rollout promoted to 100 % within `within`, and afterwards a single (new) version serving everything. */
export function judgePromotion(a: z.infer<typeof PromotionAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const fault = faultOf(record, a.fault);
  const t0 = fault?.injectedAt;
  const run = windowOf(record, "run");
  if (t0 === undefined) return missing(base, run, `fault ${a.fault} never took effect`);
  const promoted = events(record, "rollout.promoted").find((e) => e.t >= t0);
  const w = { start: t0, end: t0 + a.within };
  if (promoted === undefined || promoted.t > w.end) {
    const last = events(record, (t) => t.startsWith("rollout.")).at(-1);
    return {
      ...base,
      verdict: "fail",
      measured: promoted ? promoted.t - t0 : null,
      limit: a.within,
      unit: "ms",
      window: w,
      message: promoted ? `promoted after ${((promoted.t - t0) / 1000).toFixed(1)}s, later than ${a.within / 1000}s` : `never promoted (last rollout event: ${last?.message ?? "none"})`,
      evidence: events(record, (t) => t.startsWith("rollout.")).slice(0, 20),
    };
  }
  const series = record.series.load;
  if (series !== undefined) {
    const after = { start: promoted.t + 2000, end: Math.min(fault?.revertedAt ?? Infinity, promoted.t + 7000) };
    const s = stats(bucketsIn(series, after));
    const versions = Object.keys(s.versions);
    let ok = versions.length === 1 && (a.version === undefined || versions[0] === a.version);
    // rolled out to one region's workload (a Rollout per region on kubernetes): the new version must
    // serve that region's whole share, while the other regions keep theirs
    const region = fault?.labels.region;
    const served = (counts: Record<string, number>, key: string): number => (counts[key] ?? 0) / Math.max(1, Object.values(counts).reduce((x, y) => x + y, 0));
    const regionWide = !ok && region !== undefined && a.version !== undefined && versions.length > 1;
    if (regionWide) ok = served(s.versions, a.version as string) >= served(s.regions, region) * 0.98;
    if (!ok) {
      return {
        ...base,
        verdict: "fail",
        measured: promoted.t - t0,
        limit: a.within,
        unit: "ms",
        window: after,
        message: `promoted, but afterwards the versions serving were ${JSON.stringify(s.versions)}${regionWide ? ` (${pct(served(s.versions, a.version as string))} ${a.version}, less than ${region}'s ${pct(served(s.regions, region as string))} of the answers)` : ""}`,
        evidence: [promoted],
      };
    }
  }
  return { ...base, verdict: "pass", measured: promoted.t - t0, limit: a.within, unit: "ms", window: w, message: `promoted to 100% after ${((promoted.t - t0) / 1000).toFixed(1)}s`, evidence: [promoted] };
}

/** Share of successful responses per region, within tolerance of what is expected. */
export function judgeTrafficSplit(a: z.infer<typeof TrafficSplitAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const phase = windowOf(record, a.during);
  const w = a.lastSeconds !== undefined ? { start: Math.max(phase.start, phase.end - a.lastSeconds * 1000), end: phase.end } : phase;
  const series = record.series.load;
  if (series === undefined) return missing(base, w, "no load series");
  const s = stats(bucketsIn(series, w));
  const total = Object.values(s.regions).reduce((x, y) => x + y, 0);
  if (total === 0) return missing(base, w, `no successful responses with a region during ${a.during}`);
  const shares = Object.fromEntries(Object.entries(s.regions).map(([k, v]) => [k, v / total]));
  const off = Object.entries(a.expect).map(([region, want]) => ({ region, want, got: shares[region] ?? 0 })).filter((x) => Math.abs(x.got - x.want) > a.tolerance);
  const worst = off.sort((x, y) => Math.abs(y.got - y.want) - Math.abs(x.got - x.want))[0];
  const show = Object.entries(shares).map(([k, v]) => `${k} ${pct(v)}`).join(", ");
  return {
    ...base,
    verdict: off.length === 0 ? "pass" : "fail",
    measured: worst ? worst.got : null,
    limit: worst ? worst.want : null,
    unit: "share",
    window: w,
    message: off.length === 0 ? `split ${show} (expected ${Object.entries(a.expect).map(([k, v]) => `${k} ${pct(v)}`).join(", ")} ± ${pct(a.tolerance)})` : `split ${show}: ${worst?.region} off by more than ${pct(a.tolerance)}`,
    evidence: [shares],
  };
}
