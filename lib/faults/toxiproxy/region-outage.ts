import { FaultlineError } from "../../errors.ts";
import type { FaultImpl } from "../types.ts";
import { planToxics } from "./backend.ts";
import { partitionToxic } from "./partition.ts";

/** Every path into a region partitioned: a partition whose selector must name the region. */
export const regionOutage: FaultImpl<"region-outage"> = {
  plan: (f, ctx) => {
    if (f.selector.matchLabels?.region === undefined) {
      throw new FaultlineError("E_INVALID_INPUT", `fault ${ctx.faultName} (region-outage) needs selector.matchLabels.region`);
    }
    return planToxics(ctx, f, partitionToxic(f.params.mode));
  },
};
