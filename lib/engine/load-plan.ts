import { loadEngine } from "../load/registry.ts";
import type { LoadEngine, ResolvedLoad } from "../load/types.ts";
import { DEFAULT_MIX } from "../load/types.ts";
import type { Experiment } from "../schema/experiment.ts";
import type { Target } from "../schema/target.ts";
import { endpointUrl } from "./endpoints.ts";

export interface LoadPlan {
  engine: LoadEngine;
  load: ResolvedLoad;
  /** for the timeline */
  description: string;
}

/** A warm-up is never time-scaled below this (nor above the experiment's own): it pays fixed costs — JIT, connections, caches — that do not shrink with the run. */
export const MIN_WARMUP_MS = 5000;

/**
 * The warm-up as run: the experiment's, time-scaled, but not below MIN_WARMUP_MS unless it is shorter
 * itself; and not below what the target says its cold start takes (`targetMs`, StartedTarget's
 * `warmupMs`), when the experiment has a warm-up at all.
 */
export function warmupMs(exp: Experiment, timeScale: number, targetMs = 0): number {
  if (exp.phases.warmup <= 0) return 0;
  return Math.max(exp.phases.warmup * timeScale, Math.min(exp.phases.warmup, MIN_WARMUP_MS), targetMs);
}

/**
 * How long the warm-up may go on past its length while alerts its own ramp raised are still active
 * (Run.settle): as long again, at least MIN_WARMUP_MS, and at least as long as the target's alert
 * rules remember (`rulesMemory`, StartedTarget's `alertRules.memoryMs`): a slow last second of the
 * warm-up keeps a rule over a window true for the window's length. The load is planned with it, so
 * a settled warm-up does not cut the recovery short. (make demo, 2026-12-04: kv-pressure's
 * HighP99Latency, raised by the warm-up's cold first seconds, resolved 0.3 s after a 5 s wait had
 * given up, and the quiet baseline failed on it.)
 */
export function settleMaxMs(warmMs: number, rulesMemory = 0): number {
  return warmMs > 0 ? Math.max(warmMs, MIN_WARMUP_MS, rulesMemory) : 0;
}

/**
 * The experiment's load, resolved against the target and scaled: it runs from the warm-up (and
 * the time it may take to settle) to the end of the recovery (plus 2 s), and stops with the run. A
 * load without stages of its own ramps up from a tenth of its rate over the first half of the
 * warm-up, as traffic shifted onto a fleet does, then holds: a cold stack hit at full rate at once
 * can queue past any steady state before its connections and JIT are warm, and the second half
 * lets the full rate settle before the baseline is judged (in CI a baseline that began as the ramp
 * ended caught the generator's and the stack's first full-rate second: 155 ms of send lag, a 255 ms
 * gateway response time).
 */
export function planLoad(
  exp: Experiment,
  target: Target,
  o: { timeScale: number; rateScale: number; faultMs: number; warmupMs?: number | undefined; rulesMemoryMs?: number | undefined; onStage(stage: string, message: string): void },
): LoadPlan | undefined {
  const l = exp.load;
  if (l === undefined) return undefined;
  const scale = o.timeScale;
  const warmMs = warmupMs(exp, scale, o.warmupMs);
  const durationMs = warmMs + settleMaxMs(warmMs, o.rulesMemoryMs) + exp.phases.baseline * scale + o.faultMs + exp.phases.recovery * scale + 2000;
  const baseUrl = endpointUrl(target, l.endpoint, "/");
  const rate = l.rate * o.rateScale;
  const ramp = l.stages === undefined && warmMs > 0;
  const stages = l.stages
    ? l.stages.map((st) => ({ duration: st.duration * scale, target: st.target * o.rateScale }))
    : ramp
      ? [{ duration: warmMs / 2, target: rate }, { duration: durationMs - warmMs / 2, target: rate }]
      : undefined;
  return {
    engine: loadEngine(l.engine, { target, profile: l, onStage: o.onStage }),
    load: { baseUrl, rate: ramp ? rate / 10 : rate, ...(stages ? { stages } : {}), durationMs, maxInFlight: l.maxInFlight, timeoutMs: l.timeout, ...(l.retry ? { retry: l.retry } : {}), mix: l.mix ?? DEFAULT_MIX },
    description: `${l.engine} load at ${rate} req/s${ramp ? ` (from ${rate / 10} over the first half of the warm-up)` : ""} on ${baseUrl} for up to ${(durationMs / 1000).toFixed(0)}s`,
  };
}
