import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import { liveLoad } from "./live.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";

const EndSurge = z.strictObject({ driver: z.literal("load"), op: z.literal("end-surge"), runId: z.string() });
type EndSurge = z.infer<typeof EndSurge>;

/** Back to the profile's rate. A run whose process is gone took its load with it: nothing to undo. */
export const endSurge: UndoOp<EndSurge> = {
  schema: EndSurge,
  revert: async (u) => liveLoad(u.runId)?.setRateFactor?.(1),
  isActive: async (u) => (liveLoad(u.runId)?.rateFactor ?? 1) !== 1,
};

/** A surge: the run's own builtin load multiplies its rate for the fault's duration, every due time kept. */
export const surge: FaultImpl<"surge"> = {
  plan: async (f, ctx) => {
    const action: Action<EndSurge> = {
      description: `multiply the offered load by ${f.params.factor}`,
      undo: { driver: "load", op: "end-surge", runId: ctx.runId },
      apply: async () => {
        const load = liveLoad(ctx.runId);
        if (load?.setRateFactor === undefined) throw new FaultlineError("E_DRIVER", "a surge needs the run's own load, on the builtin engine (the experiment has no load, or k6 runs it)");
        load.setRateFactor(f.params.factor);
      },
    };
    return { targets: ["load"], actions: [action] };
  },
};
