import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import type { FaultOf } from "../../schema/faults.ts";
import type { FaultImpl, FaultPlan, PlanContext, UndoOp } from "../types.ts";
import { call, stackOf } from "./api.ts";

const AbortRollout = z.strictObject({ driver: z.literal("stack"), op: z.literal("abort-rollout"), rollout: z.string(), stable: z.string() });
type AbortRollout = z.infer<typeof AbortRollout>;

export const abortRollout: UndoOp<AbortRollout> = {
  schema: AbortRollout,
  revert: async (u) => {
    const res = await call("POST", `${u.rollout}/rollouts/abort`, { stable: u.stable });
    if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: aborting the rollout answered ${res.status}`);
  },
  isActive: async (u) => (await call("GET", `${u.rollout}/healthz`), true),
};

/** A rollout through the stack's canary controller; reverted by aborting it back to the stable version. */
async function planRollout(f: FaultOf<"bad-rollout"> | FaultOf<"rollout">, ctx: PlanContext): Promise<FaultPlan> {
  const s = stackOf(ctx, f.kind);
  if (s.rollout === undefined) throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${f.kind}) needs stack.rollout in the target`);
  const rollout = s.rollout;
  const cur = await call("GET", `${rollout}/rollouts/current`);
  const stable = String(cur.json.stable ?? "");
  return {
    targets: [`rollout of ${f.params.version}`],
    actions: [
      {
        description: `start a rollout of ${f.params.version} (stable ${stable})`,
        undo: { driver: "stack", op: "abort-rollout", rollout, stable } satisfies AbortRollout,
        apply: async () => {
          const res = await call("POST", `${rollout}/rollouts`, { version: f.params.version, ...(f.params.model ? { model: f.params.model } : {}) });
          if (res.status !== 202) throw new FaultlineError("E_DRIVER", `stack: starting the rollout answered ${res.status}: ${JSON.stringify(res.json)}`);
        },
      },
    ],
  };
}

export const badRollout: FaultImpl<"bad-rollout"> = { plan: planRollout };
export const rollout: FaultImpl<"rollout"> = { plan: planRollout };
