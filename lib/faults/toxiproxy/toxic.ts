import type { FaultOf } from "../../schema/faults.ts";
import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";

/** Toxiproxy's attribute names and units for each toxic type. */
function rawAttributes(p: FaultOf<"toxic">["params"]): Record<string, number> {
  switch (p.type) {
    case "latency":
      return { latency: p.attributes.latency, jitter: p.attributes.jitter };
    case "bandwidth":
      return { rate: p.attributes.rateKBps };
    case "slow_close":
      return { delay: p.attributes.delay };
    case "timeout":
      return { timeout: p.attributes.timeout };
    case "reset_peer":
      return { timeout: p.attributes.timeout };
    case "slicer": // Toxiproxy takes the slicer delay in microseconds.
      return { average_size: p.attributes.averageSize, size_variation: p.attributes.sizeVariation, delay: p.attributes.delay * 1000 };
    case "limit_data":
      return { bytes: p.attributes.bytes };
  }
}

/** Any Toxiproxy toxic, for cases the named kinds do not cover. */
export const toxic: FaultImpl<"toxic"> = {
  plan: (f, ctx) => planToxics(ctx, f, { type: f.params.type, attributes: rawAttributes(f.params), direction: f.params.direction, toxicity: f.params.toxicity }),
};
