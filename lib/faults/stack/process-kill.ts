import { FaultlineError } from "../../errors.ts";
import type { FaultImpl } from "../types.ts";
import { call, replicas } from "./api.ts";

/** Replica processes signalled; the supervisor restarts them (undone by starting them, as node-loss). */
export const processKill: FaultImpl<"process-kill"> = {
  plan: async (f, ctx) => {
    const { s, chosen } = replicas(ctx, f);
    return {
      targets: chosen.map((r) => r.name),
      actions: chosen.map((r) => ({
        description: `${f.params.signal} replica ${r.name} (supervisor restarts it)`,
        undo: { driver: "stack", op: "start-replica", control: s.control, replica: r.name },
        apply: async () => {
          const res = await call("POST", `${s.control}/replicas/${r.name}/kill`, { signal: f.params.signal, restart: true });
          if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: killing ${r.name} answered ${res.status}`);
        },
      })),
    };
  },
};
