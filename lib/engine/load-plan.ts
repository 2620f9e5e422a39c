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

/**
 * The experiment's load, resolved against the target and scaled: it runs from the warm-up to the
 * end of the recovery (plus 2 s). A load without stages of its own ramps up over the warm-up from
 * a tenth of its rate, as traffic shifted onto a fleet does, then holds: a cold stack hit at full
 * rate at once can queue past any steady state before its connections and JIT are warm.
 */
export function planLoad(exp: Experiment, target: Target, o: { timeScale: number; rateScale: number; faultMs: number; onStage(stage: string, message: string): void }): LoadPlan | undefined {
  const l = exp.load;
  if (l === undefined) return undefined;
  const scale = o.timeScale;
  const durationMs = (exp.phases.warmup + exp.phases.baseline) * scale + o.faultMs + exp.phases.recovery * scale + 2000;
  const baseUrl = endpointUrl(target, l.endpoint, "/");
  const rate = l.rate * o.rateScale;
  const warmMs = exp.phases.warmup * scale;
  const ramp = l.stages === undefined && warmMs > 0;
  const stages = l.stages
    ? l.stages.map((st) => ({ duration: st.duration * scale, target: st.target * o.rateScale }))
    : ramp
      ? [{ duration: warmMs, target: rate }, { duration: durationMs - warmMs, target: rate }]
      : undefined;
  return {
    engine: loadEngine(l.engine, { target, profile: l, onStage: o.onStage }),
    load: { baseUrl, rate: ramp ? rate / 10 : rate, ...(stages ? { stages } : {}), durationMs, maxInFlight: l.maxInFlight, timeoutMs: l.timeout, mix: l.mix ?? DEFAULT_MIX },
    description: `${l.engine} load at ${rate} req/s${ramp ? ` (from ${rate / 10} over the warm-up)` : ""} on ${baseUrl} for up to ${(durationMs / 1000).toFixed(0)}s`,
  };
}
