import { median } from "simple-statistics";
import { BUCKET_MS } from "../schema/series.ts";
import type { LoadBucket } from "../schema/series.ts";
import type { AssertionResult, HostSample, RunRecord } from "../schema/run-record.ts";
import { bucketsIn, windowOf } from "./context.ts";
import type { Window } from "./context.ts";

/**
 * When the instrument itself cannot be trusted (documented in the README, "Inconclusive"):
 * - a request left the load generator more than `sendLagMs` after it fell due, or the generator's
 *   event loop was held longer than `loopMs`: the latency of those requests is partly the
 *   generator's, so a percentile they could decide says nothing about the system;
 * - more than `heldTimeoutShare` of a window's requests timed out while the generator was held
 *   for half their timeout or more (timeoutsWhileHeld): the errors may be its own;
 * - other work on the host (neither faultline nor the system under test) took more than
 *   `otherCores` cores for more than `starvedShare` of a window: the system and the generator
 *   were starved alike, and a failure there cannot be laid on the system;
 * - the host's CPU was all but used up (`saturatedBusy` of its cores or more) for `saturatedShare` of
 *   the baseline and of a window: the load asked more of this host than it has, before any fault as
 *   well as then, and a failure there is the host's limit as much as the system's.
 */
export const INSTRUMENT_BOUNDS = { sendLagMs: 100, loopMs: 100, otherCores: 0.5, starvedShare: 0.1, heldTimeoutShare: 0.01, saturatedBusy: 0.95, saturatedShare: 0.5 } as const;

/** A stretch in which nothing here ran: the host sampler woke `wallMs` after it last did, or the wall clock left the monotonic one. */
export interface Freeze {
  /** wall clock: the sampler's last tick before it, and its first after */
  from: number;
  to: number;
  /** what each clock says went by between the two ticks */
  wallMs: number;
  monoMs: number;
}

/**
 * Beyond these a tick of the host sampler (every second) says the host was frozen: no tick for 3 s,
 * or the wall and monotonic clocks 1 s apart. Seen here once (2026-12-03, "crng reseeded due to
 * virtual machine fork" in the kernel log): the VM was paused for 21.3 s mid-run and its monotonic
 * clock stood still, so the load series, timed by it, came out 21 s early against the phases.
 */
export const FREEZE_BOUNDS = { gapMs: 3000, clockJumpMs: 1000 } as const;

export const FROZEN_EVENT = "host.frozen";

const clocksParted = (f: Freeze): boolean => Math.abs(f.wallMs - f.monoMs) > FREEZE_BOUNDS.clockJumpMs;

export function frozenMessage(f: Freeze): string {
  return clocksParted(f)
    ? `the host's wall clock went ${(f.wallMs / 1000).toFixed(1)}s and its monotonic clock ${(f.monoMs / 1000).toFixed(1)}s between two samples a second apart: the machine (a VM) was paused and resumed, or its clock was stepped; nothing here ran meanwhile, and what is timed by the monotonic clock (the load series) no longer lines up with the wall clock after it`
    : `faultline's main thread did not run for ${(f.wallMs / 1000).toFixed(1)}s (its host sampler, due every second, woke that late): the machine was paused, or starved of all CPU`;
}

/**
 * A freeze that could have made a check over `w`: one inside it, or one before its end after which the
 * clocks no longer agree (the load series is shifted against the phases from then on).
 */
export function freezeDoubt(record: RunRecord, w: Window): string | undefined {
  for (const e of record.timeline) {
    if (e.type !== FROZEN_EVENT || e.data === undefined) continue;
    const f = e.data as unknown as Freeze;
    if (f.from < w.end && (f.to > w.start || clocksParted(f))) return frozenMessage(f);
  }
  return undefined;
}

/** What a check reads from the load series: latency at a quantile (its tail decides), or outcomes only. */
export type Dependence = { latency: number } | "outcomes";

/** How long the generator was held in a bucket: its longest send lag or event-loop block. */
const heldMs = (b: LoadBucket): number => Math.max(b.gen?.lagMs ?? 0, b.gen?.loopMs ?? 0);

/** The share of a window's requests the generator sent late or while its loop was held. */
export function laggedShare(record: RunRecord, w: Window): { share: number; worstMs: number; at?: number } {
  const series = record.series.load;
  if (series === undefined) return { share: 0, worstMs: 0 };
  let sent = 0;
  let lagged = 0;
  let worst = 0;
  let at: number | undefined;
  for (const b of bucketsIn(series, w)) {
    sent += b.sent;
    const held = heldMs(b);
    if (held > INSTRUMENT_BOUNDS.sendLagMs) lagged += b.sent;
    if (held > worst) {
      worst = held;
      at = b.t;
    }
  }
  return { share: sent > 0 ? lagged / sent : 0, worstMs: worst, ...(at !== undefined ? { at } : {}) };
}

/**
 * Timeouts the generator may have made itself. A client times a request out when its answer has not
 * been read within the profile's timeout, and a generator whose loop is held for h ms reads every
 * answer up to h ms late: a timeout counts here when, between its request falling due and its
 * timeout, the generator was held for at least half the timeout (an answer in half the time would
 * have missed it). On a starved host a generator with lockstep retries can feed itself this way:
 * each held second times out a second of requests and sends them all again (retry-storm on the
 * testcontainers target, 2026-12-03: loop holds of 1.1–2.3 s, 60 % of the recovery's requests timed
 * out while the replicas answered ~1,000 req/s in 50–100 ms).
 */
export function timeoutsWhileHeld(record: RunRecord, w: Window): { count: number; sent: number; worstMs: number; at?: number } {
  const series = record.series.load;
  const timeoutMs = (record.spec as { load?: { timeout?: unknown } } | undefined)?.load?.timeout;
  if (series === undefined || typeof timeoutMs !== "number") return { count: 0, sent: 0, worstMs: 0 };
  const held = series.buckets.map((b) => ({ t: b.t, ms: heldMs(b) })).filter((h) => h.ms >= timeoutMs / 2);
  let count = 0;
  let sent = 0;
  let worst: { t: number; ms: number } | undefined;
  for (const b of bucketsIn(series, w)) {
    sent += b.sent;
    if (b.outcomes.timeout === 0) continue;
    const during = held.filter((h) => h.t >= b.t && h.t < b.t + BUCKET_MS + timeoutMs);
    if (during.length === 0) continue;
    count += b.outcomes.timeout;
    for (const h of during) if (worst === undefined || h.ms > worst.ms) worst = h;
  }
  return { count, sent, worstMs: worst?.ms ?? 0, ...(worst !== undefined ? { at: worst.t } : {}) };
}

/** The host's samples of a window: each covers the second before its time, so one just past the end still counts. */
function hostSamplesIn(record: RunRecord, w: Window): HostSample[] {
  return (record.series.host ?? []).filter((s) => s.t >= w.start && s.t <= w.end + BUCKET_MS);
}

/** The host samples in a window where other work took more than the bound, and their share of the window. */
export function starvation(record: RunRecord, w: Window): { share: number; worstCores: number; at?: number } {
  const samples = hostSamplesIn(record, w).filter((s) => s.other !== undefined);
  if (samples.length === 0) return { share: 0, worstCores: 0 };
  const starved = samples.filter((s) => (s.other ?? 0) > INSTRUMENT_BOUNDS.otherCores);
  const worst = samples.reduce((m, s) => ((s.other ?? 0) > (m.other ?? 0) ? s : m), samples[0] as HostSample);
  return { share: starved.length / samples.length, worstCores: worst.other ?? 0, ...(starved.length ? { at: worst.t } : {}) };
}

/** The host samples in a window whose CPU was all but used up, their share of the window, and the cores the system and faultline took in them (medians). */
export function saturation(record: RunRecord, w: Window): { share: number; cores: number; sut?: number; own: number } {
  const samples = hostSamplesIn(record, w);
  const full = samples.filter((s) => s.busy >= INSTRUMENT_BOUNDS.saturatedBusy * s.cores);
  const sut = full.flatMap((s) => (s.sut === undefined ? [] : [s.sut]));
  return { share: samples.length ? full.length / samples.length : 0, cores: samples[0]?.cores ?? 0, ...(sut.length ? { sut: median(sut) } : {}), own: full.length ? median(full.map((s) => s.own)) : 0 };
}

/**
 * A host that ran out of CPU before any fault (the baseline) and in the window too: the load is more
 * than this host can carry beside the system, and the window's failure cannot be told from that.
 * A window saturated only after the baseline was not stays the system's (a fault that makes the
 * system burn CPU — a retry storm — is what the check is there to catch).
 */
function saturationDoubt(record: RunRecord, w: Window): string | undefined {
  const base = record.phases.some((p) => p.name === "baseline") ? windowOf(record, "baseline") : undefined;
  if (base === undefined) return undefined;
  const inBase = saturation(record, base);
  const inWindow = saturation(record, w);
  if (inBase.share < INSTRUMENT_BOUNDS.saturatedShare || inWindow.share < INSTRUMENT_BOUNDS.saturatedShare) return undefined;
  const who = `${inWindow.sut === undefined ? "" : `the system under test ${inWindow.sut.toFixed(1)} and `}faultline ${inWindow.own.toFixed(1)} of them`;
  const where = base.start === w.start && base.end === w.end ? "of the baseline" : `of the window and ${(inBase.share * 100).toFixed(0)}% of the baseline`;
  return `the host ran out of CPU: its ${inWindow.cores} cores were ${INSTRUMENT_BOUNDS.saturatedBusy * 100}% busy or more for ${(inWindow.share * 100).toFixed(0)}% ${where} (${who}, medians): this host cannot carry this load beside the system, so what failed may be the host's limit; run at a lower rate (--rate-scale) or on a larger host`;
}

const at = (record: RunRecord, t: number | undefined): string => (t === undefined ? "" : ` at +${((t - (record.phases[0]?.start ?? record.startedAt)) / 1000).toFixed(1)}s`);

/**
 * Why the instrument cannot tell for a check over `w`, or undefined when it can. A latency check at
 * quantile q is decided by its slowest (1 − q) of requests: if more than that share was sent late,
 * the generator could have made a failure. Both doubts count against a failure only: latency is
 * measured from each request's scheduled send time, so a late send can only make the system look
 * slower than it was, and a system that held while starved held. (A pass at 2,000 req/s was made
 * inconclusive by a 149 ms send lag at the fault's start, with the failover's p99 at 371 ms of 500.)
 */
export function instrumentDoubt(record: RunRecord, w: Window, depends: Dependence, failed: boolean): string | undefined {
  if (failed && typeof depends === "object") {
    const lag = laggedShare(record, w);
    const tail = Math.max(1 - depends.latency, 0.001);
    if (lag.share > tail) {
      return `the load generator was late on ${(lag.share * 100).toFixed(1)}% of the window's requests (up to ${lag.worstMs} ms${at(record, lag.at)}; bound ${INSTRUMENT_BOUNDS.sendLagMs} ms), more than the ${(tail * 100).toFixed(1)}% a p${Math.round(depends.latency * 100)} rests on`;
    }
  }
  if (failed) {
    const t = timeoutsWhileHeld(record, w);
    if (t.count > t.sent * INSTRUMENT_BOUNDS.heldTimeoutShare) {
      return `${t.count} of the window's ${t.sent} requests (${((t.count / t.sent) * 100).toFixed(1)}%) timed out while the load generator's loop was held for at least half their timeout (up to ${t.worstMs} ms${at(record, t.at)}): their timeouts may be its own`;
    }
    const st = starvation(record, w);
    if (st.share > INSTRUMENT_BOUNDS.starvedShare) {
      return `the host was starved: other work took up to ${st.worstCores.toFixed(1)} cores${at(record, st.at)} for ${(st.share * 100).toFixed(0)}% of the window (bound ${INSTRUMENT_BOUNDS.otherCores} cores for ${INSTRUMENT_BOUNDS.starvedShare * 100}%)`;
    }
    const sat = saturationDoubt(record, w);
    if (sat !== undefined) return sat;
  }
  return undefined;
}

/** A judged check, made inconclusive when the instrument could have decided it. */
export function guarded(result: AssertionResult, record: RunRecord, depends: Dependence | undefined): AssertionResult {
  if (depends === undefined || result.verdict === "inconclusive") return result;
  // a frozen host decides nothing, a pass no more than a fail: its clocks and the series timed by them may be off
  const frozen = freezeDoubt(record, result.window);
  if (frozen !== undefined) return { ...result, verdict: "inconclusive", message: `inconclusive: ${frozen}; the check alone said ${result.verdict}: ${result.message}`, evidence: [...result.evidence, { instrument: frozen }] };
  // a check that says its failure was decided by outcomes alone (errors, shares) reads no latency tail
  const decidedByOutcomes = result.evidence.some((e) => typeof e === "object" && e !== null && (e as { decidedBy?: unknown }).decidedBy === "outcomes");
  const doubt = instrumentDoubt(record, result.window, decidedByOutcomes ? "outcomes" : depends, result.verdict === "fail");
  if (doubt === undefined) return result;
  return { ...result, verdict: "inconclusive", message: `inconclusive: ${doubt}; the check alone said ${result.verdict}: ${result.message}`, evidence: [...result.evidence, { instrument: doubt }] };
}

/** The fewest samples a percentile can be read from: below 1/(1 − q), p(q) is just the largest value. */
export function minSamples(q: number): number {
  return Math.ceil(1 / Math.max(1 - q, 0.001));
}
