import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import { liveLoad } from "./live.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";

const EndKvPressure = z.strictObject({ driver: z.literal("load"), op: z.literal("end-kv-pressure"), runId: z.string() });
type EndKvPressure = z.infer<typeof EndKvPressure>;

/** Back to the profile's mix. A run whose process is gone took its load with it: nothing to undo. */
export const endKvPressure: UndoOp<EndKvPressure> = {
  schema: EndKvPressure,
  revert: async (u) => liveLoad(u.runId)?.setOverlay?.(undefined),
  isActive: async (u) => liveLoad(u.runId)?.overlay !== undefined,
};

/**
 * KV-cache pressure: a share of the run's own requests become long-context, long-output ones (a
 * RAG or agent workload arriving), each holding thousands of tokens of KV cache for seconds. The
 * cache fills, the engine preempts sequences and queues new ones, time to first token grows; the
 * KV alert must fire before the errors do.
 */
export const kvPressure: FaultImpl<"kv-pressure"> = {
  plan: async (f, ctx) => {
    const { share, promptTokens, maxTokens, stream } = f.params;
    const rampOver = Math.round(f.params.rampOver * (ctx.timeScale ?? 1));
    const action: Action<EndKvPressure> = {
      description: `${rampOver > 0 ? `up to ${(share * 100).toFixed(1)} % over ${rampOver / 1000}s` : `${(share * 100).toFixed(1)} %`} of the requests carry ${promptTokens} prompt tokens and ask for ${maxTokens}${stream ? ", streamed" : ""}`,
      undo: { driver: "load", op: "end-kv-pressure", runId: ctx.runId },
      apply: async () => {
        const load = liveLoad(ctx.runId);
        if (load?.setOverlay === undefined) throw new FaultlineError("E_DRIVER", "kv-pressure needs the run's own load, on the builtin engine (the experiment has no load, or k6 runs it)");
        // the ramp is a duration of the experiment: a time-scaled run ramps as much faster as its phases are shorter
        load.setOverlay({ share, promptTokens, maxTokens, stream, rampMs: rampOver });
      },
    };
    return { targets: ["load"], actions: [action] };
  },
};
