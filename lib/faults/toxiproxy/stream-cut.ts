import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";

/**
 * Responses cut mid-way, toward the client: Toxiproxy's limit_data closes a connection once it has
 * carried `afterBytes`, reset_peer resets it `after` it opens. The request already reached the
 * server and its answer began, so the gateway cannot retry it: a stream's client sees it end
 * without `[DONE]` and counts the tokens it never got.
 */
export const streamCut: FaultImpl<"stream-cut"> = {
  plan: (f, ctx) =>
    planToxics(ctx, f, {
      ...(f.params.mode === "bytes" ? { type: "limit_data", attributes: { bytes: f.params.afterBytes } } : { type: "reset_peer", attributes: { timeout: f.params.after } }),
      direction: "downstream",
      toxicity: f.params.toxicity,
    }),
};
