import type { LoadOverlay } from "../../schema/experiment.ts";

/** What the load faults (surge, kv-pressure) need of a running load (the builtin engine's LoadRun has it). */
export interface SurgeableLoad {
  setRateFactor?(factor: number): void;
  readonly rateFactor?: number;
  setOverlay?(overlay: LoadOverlay | undefined): void;
  readonly overlay?: LoadOverlay;
}

/**
 * The loads running in this process, by run id: how a `surge` fault reaches its own run's
 * generator. A load is gone with its process, so a surge needs no recovery after a crash.
 */
const live = new Map<string, SurgeableLoad>();

/** Registers a run's load; the returned function forgets it. */
export function registerLiveLoad(runId: string, run: SurgeableLoad): () => void {
  live.set(runId, run);
  return () => void (live.get(runId) === run && live.delete(runId));
}

export function liveLoad(runId: string): SurgeableLoad | undefined {
  return live.get(runId);
}
