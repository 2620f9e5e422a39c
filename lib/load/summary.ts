import { BUCKET_MS, completedOf, errorsOf, latencyOver, totalsOver } from "../schema/series.ts";
import type { LoadSeries, Outcome } from "../schema/series.ts";

export interface LoadSummary {
  engine: string;
  durationMs: number;
  targetRate: number;
  sent: number;
  achievedRate: number;
  completed: number;
  errors: number;
  errorRate: number;
  outcomes: Record<Outcome, number>;
  /** tokens that cut streams never delivered */
  tokensLost: number;
  /** streams the clients cancelled on purpose */
  cancelled: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  regions: Record<string, number>;
  versions: Record<string, number>;
}

/** The run's outcomes and latency; `skipMs` leaves out its first stretch (a warm-up ramp, reported apart). */
export function summarize(series: LoadSeries, skipMs = 0): LoadSummary {
  const bucketMs = series.bucketMs || BUCKET_MS;
  const skipped = Math.min(series.buckets.length, Math.ceil(skipMs / bucketMs));
  const from = series.start + skipped * bucketMs;
  const t = totalsOver(series, from);
  const durationMs = (series.buckets.length - skipped) * bucketMs;
  const lat = latencyOver(series, from, Infinity);
  const completed = completedOf(t.outcomes);
  const errors = errorsOf(t.outcomes) + t.outcomes.dropped;
  return {
    engine: series.engine,
    durationMs,
    targetRate: series.targetRate,
    sent: t.sent,
    achievedRate: durationMs > 0 ? Math.round((completed * 1000) / durationMs) : 0,
    completed,
    errors,
    errorRate: t.sent > 0 ? errors / t.sent : 0,
    outcomes: t.outcomes,
    tokensLost: t.tokensLost,
    cancelled: t.cancelled,
    p50Ms: lat?.p50 ?? null,
    p95Ms: lat?.p95 ?? null,
    p99Ms: lat?.p99 ?? null,
    maxMs: lat?.max ?? null,
    regions: t.regions,
    versions: t.versions,
  };
}
