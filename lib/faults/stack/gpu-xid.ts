import { z } from "zod";
import { FaultlineError } from "../../errors.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";
import { call, replicas } from "./api.ts";

const ClearXid = z.strictObject({ driver: z.literal("stack"), op: z.literal("clear-xid"), url: z.string() });
type ClearXid = z.infer<typeof ClearXid>;

/** The XID the replica's GPU reports now (0: none), or undefined when it does not answer. */
async function xidOf(url: string): Promise<number | undefined> {
  try {
    const st = await call("GET", `${url}/admin/state`);
    return typeof st.json.xid === "number" ? st.json.xid : undefined;
  } catch {
    return undefined;
  }
}

export const clearXid: UndoOp<ClearXid> = {
  schema: ClearXid,
  revert: async (u) => {
    try {
      await call("POST", `${u.url}/admin/xid`, { xid: 0 });
    } catch {
      // the replica is down or restarting: a new process starts with a healthy GPU
    }
  },
  isActive: async (u) => ((await xidOf(u.url)) ?? 0) !== 0,
};

/**
 * A GPU error the driver reports as an XID (79: fallen off the bus): the DCGM exporter shows the
 * code, the replica answers nothing (503) and fails its readiness check until the GPU is reset,
 * which the revert does as node remediation would. The gateway must route around it.
 */
export const gpuXid: FaultImpl<"gpu-xid"> = {
  plan: async (f, ctx) => {
    if (f.params.remediate !== "none" || f.params.command !== undefined) {
      throw new FaultlineError("E_INVALID_INPUT", `fault ${ctx.faultName} (gpu-xid): ${f.params.command !== undefined ? "command" : `remediate: ${f.params.remediate}`} needs the kubernetes target: the local stack's replicas have no nodes or containers`);
    }
    const { chosen } = replicas(ctx, { ...f, selector: { ...f.selector, count: f.selector.count ?? 1 } });
    const actions: Action<ClearXid>[] = chosen.map((r) => ({
      description: `GPU of ${r.name} reports XID ${f.params.xid} and stops serving`,
      undo: { driver: "stack", op: "clear-xid", url: r.url },
      apply: async () => {
        const res = await call("POST", `${r.url}/admin/xid`, { xid: f.params.xid });
        if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: XID on ${r.name} answered ${res.status}: ${JSON.stringify(res.json)}`);
      },
      verify: async () => {
        const ready = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (ready.status !== 503) throw new FaultlineError("E_DRIVER", `replica ${r.name} still reports ready (${ready.status}) with XID ${f.params.xid}`);
      },
    }));
    return { targets: chosen.map((r) => r.name), actions };
  },
};
