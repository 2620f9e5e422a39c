import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";
import type { ToxicRequest } from "./backend.ts";

/**
 * blackhole: a `timeout` toxic with timeout 0 both ways — data stops and nothing closes, as when a
 * link goes dark. reset: `reset_peer` at once both ways, as when a firewall rejects.
 */
export function partitionToxic(mode: "blackhole" | "reset"): ToxicRequest {
  return { type: mode === "blackhole" ? "timeout" : "reset_peer", attributes: { timeout: 0 }, direction: "both", toxicity: 1 };
}

export const partition: FaultImpl<"partition"> = {
  plan: (f, ctx) => planToxics(ctx, f, partitionToxic(f.params.mode)),
};
