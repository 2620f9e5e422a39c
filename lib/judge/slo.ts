import type { SloAssertion, ThresholdAssertion } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { compare, parseThreshold } from "../schema/threshold.ts";
import type { ParsedThreshold } from "../schema/threshold.ts";
import { latencyOver } from "../schema/series.ts";
import type { LoadSeries } from "../schema/series.ts";
import type { z } from "zod";
import { bucketsIn, missing, p, pct, stats, windowOf } from "./context.ts";
import type { Window } from "./context.ts";

/** Availability and latency percentiles over a phase; every limit given must hold. */
export function judgeSlo(a: z.infer<typeof SloAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  const series = record.series.load;
  if (series === undefined) return missing(base, w, "no load series");
  const s = stats(bucketsIn(series, w));
  if (s.errorRate === null) return missing(base, w, `no completed requests during ${a.during}`);
  const checks: { what: string; measured: number; limit: number; ok: boolean; unit: string }[] = [];
  if (a.availability !== undefined) checks.push({ what: "availability", measured: 1 - s.errorRate, limit: a.availability, ok: 1 - s.errorRate >= a.availability, unit: "ratio" });
  for (const q of ["p50", "p95", "p99"] as const) {
    const limit = a[q];
    if (limit === undefined) continue;
    const m = p(series, w, q);
    checks.push({ what: q, measured: m ?? Infinity, limit, ok: m !== null && m < limit, unit: "ms" });
  }
  if (a.ttftP99 !== undefined) {
    const m = p(series, w, "p99", "ttftHdr");
    checks.push({ what: "ttft p99", measured: m ?? Infinity, limit: a.ttftP99, ok: m !== null && m < a.ttftP99, unit: "ms" });
  }
  const failed = checks.filter((c) => !c.ok);
  const show = (c: (typeof checks)[number]): string =>
    c.unit === "ratio" ? `${c.what} ${pct(c.measured)} (≥ ${pct(c.limit)})` : `${c.what} ${Number.isFinite(c.measured) ? c.measured.toFixed(0) : "n/a"}ms (< ${c.limit}ms)`;
  const head = failed[0] ?? checks[0];
  return {
    ...base,
    verdict: failed.length === 0 ? "pass" : "fail",
    measured: head && Number.isFinite(head.measured) ? head.measured : null,
    limit: head?.limit ?? null,
    ...(head ? { unit: head.unit } : {}),
    window: w,
    message: `${failed.length === 0 ? "held" : "broken"} during ${a.during}: ${checks.map(show).join(", ")}`,
    evidence: checks,
  };
}

export function measureThreshold(t: ParsedThreshold, series: LoadSeries, w: Window): number | null {
  if (t.metric === "http_req_failed") return stats(bucketsIn(series, w)).errorRate;
  const which = t.metric === "time_to_first_token" ? "ttftHdr" : "latHdr";
  const q = latencyOver(series, w.start, w.end, which);
  if (t.metric === "inter_token_latency") {
    const xs = bucketsIn(series, w).flatMap((b) => (b.itl ? [b.itl.p50] : []));
    return xs.length ? (xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number) : null;
  }
  if (q === null) return null;
  if (t.agg.kind === "p") {
    const byQ: Record<number, number> = { 50: q.p50, 90: q.p90, 95: q.p95, 99: q.p99 };
    return byQ[t.agg.q] ?? null; // the grammar admits only these four
  }
  return t.agg.kind === "avg" ? q.mean : t.agg.kind === "max" ? q.max : q.p50;
}

export function judgeThreshold(a: z.infer<typeof ThresholdAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  const t = parseThreshold(a.threshold);
  if (typeof t === "string") return { ...base, verdict: "fail", measured: null, limit: null, window: w, message: t, evidence: [] };
  if (record.series.load === undefined) return missing(base, w, "no load series");
  const m = measureThreshold(t, record.series.load, w);
  if (m === null) return missing(base, w, `${t.metric} has no data during ${a.during}`);
  const ok = compare(m, t.op, t.value);
  return {
    ...base,
    verdict: ok ? "pass" : "fail",
    measured: m,
    limit: t.value,
    unit: t.metric === "http_req_failed" ? "ratio" : "ms",
    window: w,
    message: `${t.source} — measured ${t.metric === "http_req_failed" ? pct(m) : `${m.toFixed(1)}ms`} during ${a.during}`,
    evidence: [],
  };
}
