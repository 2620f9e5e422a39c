import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";

/** A share of connections reset, `after` they open. */
export const flakyConnection: FaultImpl<"flaky-connection"> = {
  plan: (f, ctx) => planToxics(ctx, f, { type: "reset_peer", attributes: { timeout: f.params.after }, direction: f.params.direction, toxicity: f.params.toxicity }),
};
