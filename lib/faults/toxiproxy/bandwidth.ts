import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";

/** A bandwidth cap in KB/s on every matched path. */
export const bandwidth: FaultImpl<"bandwidth"> = {
  plan: (f, ctx) => planToxics(ctx, f, { type: "bandwidth", attributes: { rate: f.params.rateKBps }, direction: f.params.direction, toxicity: f.params.toxicity }),
};
