import * as hdr from "hdr-histogram-js";
import type { Histogram } from "hdr-histogram-js";

/**
 * The load series, version 1: what clients saw, per 100 ms bucket of *scheduled send time*, so a
 * request that failed is counted when it was sent, not smeared to when it timed out. Shared by
 * every load engine and everything downstream (observe, judge, report) and stored in run.json.
 * Latencies are in milliseconds; `latHdr` is an HDR histogram (µs, 2 significant digits) in
 * compressed base64, so any window can be merged and re-quantiled exactly.
 */
export const SERIES_VERSION = 1;
export const BUCKET_MS = 100;

export const OUTCOMES = ["ok", "s429", "s4xx", "s5xx", "timeout", "connError", "streamCut", "dropped"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface Quantiles {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  count: number;
}

/**
 * The load generator's own health while this bucket's requests fell due (the builtin engine): how
 * late the latest of them left, and the longest its event loop was held. A late send shows as
 * latency the system never caused, so the judges ask for these before they blame the system.
 */
export interface GeneratorHealth {
  /** the longest a request due in this bucket waited to be sent, ms */
  lagMs: number;
  /** the longest the generator's event loop was blocked in this bucket, ms */
  loopMs: number;
}

export interface LoadBucket {
  /** start of the bucket, ms since the epoch */
  t: number;
  sent: number;
  outcomes: Record<Outcome, number>;
  lat: Quantiles | null;
  latHdr?: string;
  ttft: Quantiles | null;
  ttftHdr?: string;
  itl: Quantiles | null;
  regions: Record<string, number>;
  versions: Record<string, number>;
  /** tries sent again by clients with a retry policy for this bucket's requests (`sent` counts each request once) */
  retries?: number;
  /** streams of this bucket cut mid-way: the tokens they were owed and never got (maxTokens − received) */
  tokensLost?: number;
  /** streams the clients cancelled on purpose (a cancel share): counted ok, their latency left out */
  cancelled?: number;
  /** requests of a conversation (a template with `sessions`): turns sent, and turns the answer acknowledged as kept */
  sessions?: { writes: number; acked: number };
  gen?: GeneratorHealth;
}

/** Every turn the clients were told was kept, by session: [turn, epoch ms of the acknowledgement]. */
export interface SessionAcks {
  acked: Record<string, [number, number][]>;
}

export interface LoadSeries {
  version: typeof SERIES_VERSION;
  engine: string;
  bucketMs: number;
  start: number;
  targetRate: number;
  buckets: LoadBucket[];
  /** what the clients were told was kept (the session audit compares it with the store; dropped once audited) */
  sessionAcks?: SessionAcks;
  /** the builtin generator's thread priority: the nice value it ran at (and its session's group's, in a session of its own), and why not the one it asked for */
  priority?: { nice: number; autogroup?: number; refused?: string };
}

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2, bitBucketSize: 32 });
}

export function quantiles(h: Histogram): Quantiles | null {
  if (h.totalCount === 0) return null;
  const ms = (us: number): number => Math.round(us / 10) / 100;
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
    count: h.totalCount,
  };
}

export const emptyOutcomes = (): Record<Outcome, number> => ({ ok: 0, s429: 0, s4xx: 0, s5xx: 0, timeout: 0, connError: 0, streamCut: 0, dropped: 0 });

export function errorsOf(o: Record<Outcome, number>): number {
  return o.s429 + o.s4xx + o.s5xx + o.timeout + o.connError + o.streamCut;
}

export function completedOf(o: Record<Outcome, number>): number {
  return o.ok + errorsOf(o);
}

/**
 * Merges the latency (or TTFT) histograms of the buckets wholly inside [start, end] and returns their
 * quantiles. A bucket that straddles the end belongs partly to what came next (a baseline's last
 * bucket holds the first requests of the fault that followed it): it is left out, as the judges'
 * counts leave it out.
 */
export function latencyOver(series: LoadSeries, start: number, end: number, which: "latHdr" | "ttftHdr" = "latHdr"): Quantiles | null {
  const width = series.bucketMs || BUCKET_MS;
  const inWindow = series.buckets.filter((b) => b.t >= start && b.t + width <= end + 1);
  if (inWindow.length > 0 && inWindow.every((b) => b[which] === undefined)) {
    // Engines without histograms (k6): the worst bucket percentile — pessimistic, never flattering.
    const qs = inWindow.map((b) => (which === "latHdr" ? b.lat : b.ttft)).filter((q): q is Quantiles => q !== null);
    if (qs.length === 0) return null;
    const worst = (k: keyof Quantiles): number => Math.max(...qs.map((q) => q[k]));
    return { p50: worst("p50"), p90: worst("p90"), p95: worst("p95"), p99: worst("p99"), max: worst("max"), mean: worst("mean"), count: qs.reduce((s, q) => s + q.count, 0) };
  }
  const acc = newHistogram();
  for (const b of inWindow) {
    const enc = b[which];
    if (enc === undefined) continue;
    const h = hdr.decodeFromCompressedBase64(enc, 32, false);
    acc.add(h);
    h.destroy();
  }
  const q = quantiles(acc);
  acc.destroy();
  return q;
}

export interface Totals {
  sent: number;
  outcomes: Record<Outcome, number>;
  /** tokens cut streams never delivered, and streams clients cancelled on purpose */
  tokensLost: number;
  cancelled: number;
  regions: Record<string, number>;
  versions: Record<string, number>;
}

export function totalsOver(series: LoadSeries, start = -Infinity, end = Infinity): Totals {
  const t: Totals = { sent: 0, outcomes: emptyOutcomes(), tokensLost: 0, cancelled: 0, regions: {}, versions: {} };
  for (const b of series.buckets) {
    if (b.t < start || b.t >= end) continue;
    t.sent += b.sent;
    t.tokensLost += b.tokensLost ?? 0;
    t.cancelled += b.cancelled ?? 0;
    for (const k of OUTCOMES) t.outcomes[k] += b.outcomes[k];
    for (const [k, v] of Object.entries(b.regions)) t.regions[k] = (t.regions[k] ?? 0) + v;
    for (const [k, v] of Object.entries(b.versions)) t.versions[k] = (t.versions[k] ?? 0) + v;
  }
  return t;
}
