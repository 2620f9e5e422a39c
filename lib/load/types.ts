import type { ClientRetry, LoadOverlay } from "../schema/experiment.ts";
import type { LoadSeries } from "../schema/series.ts";

export interface RequestTemplate {
  name: string;
  weight: number;
  path: string;
  model: string;
  promptTokens: { min: number; max: number };
  maxTokens: number;
  streamShare: number;
  /** share of streams the client cancels after `cancelAfterTokens` tokens (builtin engine) */
  cancelShare?: number;
  cancelAfterTokens?: number;
  /** requests are turns of `count` conversations, each `turns` long (0: endless) */
  sessions?: { count: number; turns: number };
}

/** A load profile with every name resolved: what an engine needs to run. */
export interface ResolvedLoad {
  baseUrl: string;
  /** requests per second, or the starting rate when `stages` ramp it */
  rate: number;
  stages?: { duration: number; target: number }[];
  durationMs: number;
  maxInFlight: number;
  timeoutMs: number;
  mix: RequestTemplate[];
  /** clients retry failed tries (durations in ms) */
  retry?: ClientRetry;
  /** Set to limit the number of requests, besides the duration. */
  maxRequests?: number;
}

export interface LoadRun {
  /** Live: buckets fill as requests complete. */
  readonly series: LoadSeries;
  /** Resolves when the profile has run its course (or was stopped) and every request settled. */
  readonly done: Promise<LoadSeries>;
  stop(): Promise<LoadSeries>;
  /** Multiplies the offered rate from now on, 1 to put it back (the builtin engine: a `surge` fault). */
  setRateFactor?(factor: number): void;
  /** the factor last set (1 unless surged) */
  readonly rateFactor?: number;
  /** From now on this share of the requests are long ones (the builtin engine: a `kv-pressure` fault); undefined puts the mix back. */
  setOverlay?(overlay: LoadOverlay | undefined): void;
  /** the overlay last set */
  readonly overlay?: LoadOverlay;
}

export type { LoadOverlay };

export interface LoadEngine {
  name: string;
  start(load: ResolvedLoad): Promise<LoadRun>;
}

export const DEFAULT_MIX: RequestTemplate[] = [
  { name: "chat", weight: 1, path: "/v1/chat/completions", model: "sim-7b", promptTokens: { min: 32, max: 256 }, maxTokens: 16, streamShare: 0 },
];
