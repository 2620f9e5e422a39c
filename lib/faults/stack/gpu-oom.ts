import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import { startGpuRamp, stopGpuRamp } from "../gpu-ramp.ts";
import type { GpuState } from "../gpu-ramp.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";
import { call, replicas } from "./api.ts";

const ClearGpuPressure = z.strictObject({ driver: z.literal("stack"), op: z.literal("clear-gpu-pressure"), url: z.string(), key: z.string() });
type ClearGpuPressure = z.infer<typeof ClearGpuPressure>;

export const clearGpuPressure: UndoOp<ClearGpuPressure> = {
  schema: ClearGpuPressure,
  revert: async (u) => {
    stopGpuRamp(u.key);
    try {
      await call("POST", `${u.url}/admin/gpu-pressure`, { setMiB: 0 });
    } catch {
      // the replica is down or restarting: a new process starts without pressure
    }
  },
};

/** One replica's GPU memory driven up in steps (the replica's pressure call) until it runs out. */
export const gpuOom: FaultImpl<"gpu-oom"> = {
  plan: async (f, ctx) => {
    const { chosen } = replicas(ctx, { ...f, selector: { ...f.selector, count: f.selector.count ?? 1 } });
    const actions: Action<ClearGpuPressure>[] = chosen.map((r) => {
      const key = `${ctx.runId}/${ctx.faultName}/${r.name}`;
      // the ramp keeps its place in the fault's window when the run is time-scaled
      const every = Math.round(f.params.stepEvery * (ctx.timeScale ?? 1));
      return {
        description: `drive GPU memory of ${r.name} to ${f.params.rampTo}% in ${f.params.steps} steps every ${every}ms`,
        undo: { driver: "stack", op: "clear-gpu-pressure", url: r.url, key },
        apply: async () => {
          const st = await call("GET", `${r.url}/admin/state`);
          const gpu = st.json.gpu as GpuState | undefined;
          if (gpu === undefined) throw new FaultlineError("E_DRIVER", `stack: ${r.url}/admin/state has no gpu section`);
          await startGpuRamp({
            key,
            rampTo: f.params.rampTo,
            steps: f.params.steps,
            every,
            gpu,
            // 507: out of memory, the ramp is done; a throw (the replica died) ends it too
            set: async (setMiB) => (await call("POST", `${r.url}/admin/gpu-pressure`, { setMiB })).status === 200,
          });
        },
      };
    });
    return { targets: chosen.map((r) => r.name), actions };
  },
};
