import { connect } from "node:net";
import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";
import { call, replicas } from "./api.ts";

const ThawReplica = z.strictObject({ driver: z.literal("stack"), op: z.literal("thaw-replica"), control: z.string(), replica: z.string() });
type ThawReplica = z.infer<typeof ThawReplica>;

/** The replica's process as the supervisor sees it: `frozen` while it is stopped. */
async function processState(control: string, replica: string): Promise<string | undefined> {
  const st = await call("GET", `${control}/state`);
  const procs = (st.json.processes ?? []) as { name: string; state: string }[];
  return procs.find((p) => p.name === `replica-${replica}`)?.state;
}

export const thawReplica: UndoOp<ThawReplica> = {
  schema: ThawReplica,
  revert: async (u) => {
    const res = await call("POST", `${u.control}/replicas/${u.replica}/thaw`, {});
    if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: thawing ${u.replica} answered ${res.status}`);
  },
  isActive: async (u) => (await processState(u.control, u.replica)) === "frozen",
};

/** Proof that a freeze took: the replica still accepts a TCP connection, and answers nothing on it. */
async function proveHung(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port), timeout: 1000 }, () => {
      s.destroy();
      resolve();
    });
    s.once("timeout", () => (s.destroy(), reject(new FaultlineError("E_DRIVER", `frozen replica at ${url} no longer accepts connections`))));
    s.once("error", (e) => reject(new FaultlineError("E_DRIVER", `frozen replica at ${url} refuses connections: ${e.message}`)));
  });
  const answered = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) }).then(
    () => true,
    () => false,
  );
  if (answered) throw new FaultlineError("E_DRIVER", `replica at ${url} still answers after it was frozen`);
}

/**
 * A hung GPU or a stuck NCCL collective: the replica's process is stopped (SIGSTOP) — it is up, its
 * socket accepts connections, and nothing answers. Health checks time out rather than fail fast.
 * Reverted by SIGCONT.
 */
export const freeze: FaultImpl<"freeze"> = {
  plan: async (f, ctx) => {
    if (f.params.command !== undefined || f.params.container !== undefined || f.params.namespace !== undefined) {
      throw new FaultlineError("E_TARGET", `fault ${ctx.faultName}: command, revertCommand, container and namespace apply on a kubernetes target; target ${ctx.target.metadata.name} freezes the stack's replica processes itself`);
    }
    const { s, chosen } = replicas(ctx, f);
    const actions: Action<ThawReplica>[] = chosen.map((r) => ({
      description: `freeze replica ${r.name} (SIGSTOP: connections accepted, nothing answered)`,
      undo: { driver: "stack", op: "thaw-replica", control: s.control, replica: r.name },
      apply: async () => {
        const res = await call("POST", `${s.control}/replicas/${r.name}/freeze`, {});
        if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: freezing ${r.name} answered ${res.status}: ${JSON.stringify(res.json)}`);
      },
      verify: () => proveHung(r.url),
    }));
    return { targets: chosen.map((r) => r.name), actions };
  },
};
