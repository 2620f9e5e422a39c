import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";
import { call, replicas } from "./api.ts";

export const StartReplica = z.strictObject({ driver: z.literal("stack"), op: z.literal("start-replica"), control: z.string(), replica: z.string() });
export type StartReplica = z.infer<typeof StartReplica>;

/** Undo of a killed replica: the supervisor starts it again (a no-op when it runs). */
export const startReplica: UndoOp<StartReplica> = {
  schema: StartReplica,
  revert: async (u) => {
    const res = await call("POST", `${u.control}/replicas/${u.replica}/start`, {});
    if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: starting ${u.replica} answered ${res.status}`);
  },
  // the stack's supervisor must still answer for the fault to be said to hold
  isActive: async (u) => (await call("GET", `${u.control}/healthz`), true),
};

/** Proof that a kill took effect: the replica stops answering. */
async function proveDown(url: string): Promise<void> {
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    try {
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(300) });
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new FaultlineError("E_DRIVER", `replica at ${url} still answers 3s after it was killed`);
}

/** Replicas lost: their processes killed; with restart: false they stay down until reverted. */
export const nodeLoss: FaultImpl<"node-loss"> = {
  plan: async (f, ctx) => {
    const { s, chosen } = replicas(ctx, f);
    const actions: Action<StartReplica>[] = chosen.map((r) => ({
      description: `kill replica ${r.name} (${f.params.signal}${f.params.restart ? ", supervisor restarts it" : ", held down"})`,
      undo: { driver: "stack", op: "start-replica", control: s.control, replica: r.name },
      apply: async () => {
        const res = await call("POST", `${s.control}/replicas/${r.name}/kill`, { signal: f.params.signal, restart: f.params.restart });
        if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: killing ${r.name} answered ${res.status}: ${JSON.stringify(res.json)}`);
      },
      verify: () => proveDown(r.url),
    }));
    return { targets: chosen.map((r) => r.name), actions };
  },
};
