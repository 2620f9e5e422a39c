import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";

/** Delay on every matched path, one direction or both (Toxiproxy's latency toxic). */
export const latency: FaultImpl<"latency"> = {
  plan: (f, ctx) => planToxics(ctx, f, { type: "latency", attributes: { latency: f.params.latency, jitter: f.params.jitter }, direction: f.params.direction, toxicity: f.params.toxicity }),
};
