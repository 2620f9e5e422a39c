import type { SloAssertion, ThresholdAssertion } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { compare, parseThreshold } from "../schema/threshold.ts";
import type { ParsedThreshold } from "../schema/threshold.ts";
import { latencyOver } from "../schema/series.ts";
import type { LoadSeries } from "../schema/series.ts";
import type { z } from "zod";
import { bucketsIn, generatorSilent, missing, pct, stats, undecided, windowOf } from "./context.ts";
import { minSamples } from "./instrument.ts";
import type { Window } from "./context.ts";

/** Availability and latency percentiles over a phase; every limit given must hold. */
export function judgeSlo(a: z.infer<typeof SloAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  const series = record.series.load;
  if (series === undefined) return missing(base, w, "no load series");
  const s = stats(bucketsIn(series, w));
  // the window's stats are at hand: only a window with nothing sent is looked at again, for the message
  const silent = s.sent === 0 ? generatorSilent(series, w) : undefined;
  if (silent !== undefined) return undecided(base, w, silent);
  if (s.errorRate === null) return missing(base, w, `no completed requests during ${a.during}`);
  const checks: { what: string; measured: number; limit: number; ok: boolean; unit: string }[] = [];
  if (a.availability !== undefined) checks.push({ what: "availability", measured: 1 - s.errorRate, limit: a.availability, ok: 1 - s.errorRate >= a.availability, unit: "ratio" });
  const few: string[] = [];
  const lat = latencyOver(series, w.start, w.end, "latHdr");
  for (const q of ["p50", "p95", "p99"] as const) {
    const limit = a[q];
    if (limit === undefined) continue;
    const why = tooFew(lat?.count ?? 0, Number(q.slice(1)) / 100, "requests");
    if (why !== undefined) few.push(`${q}: ${why}`);
    const m = lat?.[q] ?? null;
    checks.push({ what: q, measured: m ?? Infinity, limit, ok: m !== null && m < limit, unit: "ms" });
  }
  if (a.ttftP99 !== undefined) {
    const ttft = latencyOver(series, w.start, w.end, "ttftHdr");
    const why = tooFew(ttft?.count ?? 0, 0.99, "streamed requests");
    if (why !== undefined) few.push(`ttft p99: ${why}`);
    const m = ttft?.p99 ?? null;
    checks.push({ what: "ttft p99", measured: m ?? Infinity, limit: a.ttftP99, ok: m !== null && m < a.ttftP99, unit: "ms" });
  }
  const failed = checks.filter((c) => !c.ok);
  const show = (c: (typeof checks)[number]): string =>
    c.unit === "ratio" ? `${c.what} ${pct(c.measured)} (≥ ${pct(c.limit)})` : `${c.what} ${Number.isFinite(c.measured) ? c.measured.toFixed(0) : "n/a"}ms (< ${c.limit}ms)`;
  const head = failed[0] ?? checks[0];
  // what clients lost besides whole requests: the tokens of streams cut mid-way (and the streams they cancelled themselves)
  const streams = [s.streamsCut > 0 ? `${s.streamsCut} streams cut mid-way, ${s.tokensLost} tokens lost` : "", s.cancelled > 0 ? `${s.cancelled} streams cancelled by their clients` : ""].filter(Boolean).join(", ");
  return {
    ...base,
    verdict: few.length > 0 ? "inconclusive" : failed.length === 0 ? "pass" : "fail",
    measured: head && Number.isFinite(head.measured) ? head.measured : null,
    limit: head?.limit ?? null,
    ...(head ? { unit: head.unit } : {}),
    window: w,
    message: `${few.length > 0 ? `inconclusive (${few.join("; ")}): ` : ""}${failed.length === 0 ? "held" : "broken"} during ${a.during}: ${checks.map(show).join(", ")}${streams ? ` (${streams})` : ""}`,
    evidence: checks,
  };
}

/** Why a percentile cannot be read from `count` samples, or undefined when it can. */
export function tooFew(count: number, q: number, what: string): string | undefined {
  const need = minSamples(q);
  return count < need ? `too few samples: ${count} ${what} in the window, a p${Math.round(q * 100)} needs at least ${need}` : undefined;
}

/** The threshold's value over the window; a string when there are too few samples to read it. */
export function measureThreshold(t: ParsedThreshold, series: LoadSeries, w: Window): number | string | null {
  if (t.metric === "http_req_failed") return stats(bucketsIn(series, w)).errorRate;
  const which = t.metric === "time_to_first_token" ? "ttftHdr" : "latHdr";
  const q = latencyOver(series, w.start, w.end, which);
  if (t.metric === "inter_token_latency") {
    const xs = bucketsIn(series, w).flatMap((b) => (b.itl ? [b.itl.p50] : []));
    return xs.length ? (xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number) : null;
  }
  if (q === null) return null;
  const few = t.agg.kind === "p" ? tooFew(q.count, t.agg.q / 100, "requests") : undefined;
  if (few !== undefined) return few;
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
  const silent = m === null ? generatorSilent(record.series.load, w) : undefined;
  if (silent !== undefined) return undecided(base, w, silent);
  if (m === null) return missing(base, w, `${t.metric} has no data during ${a.during}`);
  if (typeof m === "string") return { ...base, verdict: "inconclusive", measured: null, limit: t.value, unit: "ms", window: w, message: `inconclusive: ${m}`, evidence: [] };
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
