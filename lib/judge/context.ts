import { BUCKET_MS, OUTCOMES, completedOf, emptyOutcomes, errorsOf, latencyOver } from "../schema/series.ts";
import type { LoadBucket, LoadSeries, Outcome } from "../schema/series.ts";
import type { PhaseName } from "../schema/experiment.ts";
import type { AssertionResult, FaultRecord, RunRecord, TimelineEvent } from "../schema/run-record.ts";

export interface Window {
  start: number;
  end: number;
}

export function runEnd(record: RunRecord): number {
  return record.endedAt ?? record.phases.at(-1)?.end ?? record.startedAt;
}

export function windowOf(record: RunRecord, phase: PhaseName): Window {
  const end = runEnd(record);
  // The run is judged from the baseline on: the warm-up before it is recorded, never judged.
  if (phase === "run") return { start: record.phases.find((x) => x.name !== "warmup")?.start ?? end, end: record.phases.at(-1)?.end ?? end };
  const p = record.phases.find((x) => x.name === phase);
  return p ? { start: p.start, end: p.end ?? end } : { start: end, end };
}

export function faultOf(record: RunRecord, name: string): FaultRecord | undefined {
  return record.faults.find((f) => f.name === name);
}

export function events(record: RunRecord, type: string | ((t: string) => boolean)): TimelineEvent[] {
  return record.timeline.filter((e) => (typeof type === "string" ? e.type === type : type(e.type)));
}

export function bucketsIn(series: LoadSeries, w: Window): LoadBucket[] {
  return series.buckets.filter((b) => b.t >= w.start && b.t + BUCKET_MS <= w.end + 1);
}

export interface WindowStats {
  sent: number;
  ok: number;
  errors: number;
  dropped: number;
  errorRate: number | null;
  /** streams cut mid-way, and the tokens they never delivered */
  streamsCut: number;
  tokensLost: number;
  /** streams the clients cancelled on purpose (counted ok) */
  cancelled: number;
  regions: Record<string, number>;
  versions: Record<string, number>;
  /** every outcome's count */
  outcomes: Record<Outcome, number>;
}

/** Error rate counts every failed outcome (5xx, 4xx, 429, timeouts, connection errors, cut streams, drops). */
export function stats(buckets: readonly LoadBucket[]): WindowStats {
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let dropped = 0;
  let streamsCut = 0;
  let tokensLost = 0;
  let cancelled = 0;
  const regions: Record<string, number> = {};
  const versions: Record<string, number> = {};
  const outcomes = emptyOutcomes();
  for (const b of buckets) {
    sent += b.sent;
    for (const k of OUTCOMES) outcomes[k] += b.outcomes[k];
    ok += b.outcomes.ok;
    errors += errorsOf(b.outcomes);
    dropped += b.outcomes.dropped;
    streamsCut += b.outcomes.streamCut;
    tokensLost += b.tokensLost ?? 0;
    cancelled += b.cancelled ?? 0;
    for (const [k, v] of Object.entries(b.regions)) regions[k] = (regions[k] ?? 0) + v;
    for (const [k, v] of Object.entries(b.versions)) versions[k] = (versions[k] ?? 0) + v;
  }
  const done = ok + errors + dropped;
  return { sent, ok, errors, dropped, errorRate: done > 0 ? (errors + dropped) / done : null, streamsCut, tokensLost, cancelled, regions, versions, outcomes };
}

const FAILURE_WORDS: Partial<Record<Outcome, string>> = { s5xx: "5xx", s4xx: "4xx", s429: "429", timeout: "timed out", connError: "connection errors", streamCut: "streams cut", dropped: "dropped" };

/** What a window's failed requests were, most first: "5xx 812, timed out 40" (the rate alone says nothing of why). */
export function failuresOf(n: Record<Outcome, number>): string {
  const parts = OUTCOMES.filter((k) => k !== "ok" && n[k] > 0).sort((a, b) => n[b] - n[a]).map((k) => `${FAILURE_WORDS[k] ?? k} ${n[k]}`);
  return parts.length > 0 ? parts.join(", ") : "no failed requests";
}

export function completed(b: LoadBucket): number {
  return completedOf(b.outcomes);
}

export function p(series: LoadSeries, w: Window, q: "p50" | "p95" | "p99", which: "latHdr" | "ttftHdr" = "latHdr"): number | null {
  return latencyOver(series, w.start, w.end, which)?.[q] ?? null;
}

type Base = Pick<AssertionResult, "name" | "kind">;

export function missing(a: Base, w: Window, what: string): AssertionResult {
  return { ...a, verdict: "fail", measured: null, limit: null, window: w, message: `${what}: nothing to judge (missing data is a failure, never a pass)`, evidence: [] };
}

/** A check that cannot tell, and why (never a pass, never a fail). */
export function undecided(a: Base, w: Window, why: string): AssertionResult {
  return { ...a, verdict: "inconclusive", measured: null, limit: null, window: w, message: `inconclusive: ${why}`, evidence: [] };
}

/**
 * Why nothing in the window can be judged when the generator sent no request in it (it fell silent:
 * the host paused, the engine stalled; or it fell behind), or undefined when it sent some. Requests
 * sent and never answered are the system's (they time out as errors); none sent says nothing of the
 * system.
 */
export function generatorSilent(series: LoadSeries, w: Window): string | undefined {
  if (stats(bucketsIn(series, w)).sent > 0) return undefined;
  const at = (t: number): string => `+${((t - series.start) / 1000).toFixed(1)}s`;
  // a window judged while the run goes on may be due and not yet sent: a generator seconds behind
  // its schedule on a host too slow for the rate (measured: 5–6 s behind) reads as silent too
  const last = series.buckets.findLast((b) => b.sent > 0);
  const behind = last !== undefined && last.t < w.start ? `; the last request it had sent was due at ${at(last.t)}: it was behind its schedule or stalled` : "";
  return `the load generator sent no request in the window (${at(w.start)} to ${at(w.end)} of the load)${behind}, so it cannot say how the system served`;
}

export function pct(x: number | null): string {
  return x === null ? "n/a" : `${(x * 100).toFixed(2)}%`;
}

/** A compact evidence row for a window of the load series. */
export function evidenceRow(t: number, s: WindowStats, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { t, sent: s.sent, errorRate: s.errorRate, regions: s.regions, ...extra };
}
