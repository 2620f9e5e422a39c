import { z } from "zod";
import { apiError, execIn, orNotFound } from "../../clients/kubernetes.ts";
import { FaultlineError } from "../../errors.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";
import { KubeRef, MERGE, clientFor, execTargets } from "./api.ts";
import { fill } from "./gpu-oom.ts";
import type { ExecRevert } from "./gpu-oom.ts";
import { cancelLater, isPending, nodeLater } from "./nodes.ts";
import type { Uncordon } from "./nodes.ts";

/** The taint a node remediation controller puts on a node whose GPU reported an XID (its value: the code). */
export const XID_TAINT = "faultline.dev/gpu-xid";

/** The simulated replica's admin call (lib/stack/replica.ts), from inside its pod. */
const REPLICA_XID = (xid: number): string[] => ["curl", "-sS", "--fail", "-X", "POST", "-H", "content-type: application/json", "--data", `{"xid": ${xid}}`, "http://${podIP}:8000/admin/xid"];
/** Exit 0 while the replica's GPU still reports an XID (its state's `"xid":` not 0). */
const REPLICA_XID_ACTIVE = ["sh", "-c", `curl -sS --fail http://\${podIP}:8000/admin/state | grep -q '"xid":[1-9]'`];

const Untaint = z.strictObject({ ...KubeRef, op: z.literal("untaint"), node: z.string(), key: z.string() });
type Untaint = z.infer<typeof Untaint>;

type Taint = { key: string; value?: string; effect: string };
const taintsOf = async (k: ReturnType<typeof clientFor>, node: string): Promise<Taint[] | undefined> => (await orNotFound(() => k.core.readNode({ name: node })))?.spec?.taints as Taint[] | undefined;

/** The taint off again, every other taint kept (a merge patch replaces the whole list). */
export const untaint: UndoOp<Untaint> = {
  schema: Untaint,
  revert: async (u) => {
    cancelLater(u.node);
    const k = clientFor(u);
    const taints = await taintsOf(k, u.node);
    if (taints === undefined || !taints.some((t) => t.key === u.key)) return;
    await k.core.patchNode({ name: u.node, body: { spec: { taints: taints.filter((t) => t.key !== u.key) } } }, MERGE).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 404) throw apiError(`untaint node ${u.node}`, err);
    });
  },
  isActive: async (u) => isPending(u.node) || ((await taintsOf(clientFor(u), u.node)) ?? []).some((t) => t.key === u.key),
};

/**
 * A GPU's XID error inside the chosen pods, by exec through the API server: the simulated replica's
 * GPU reports the code and serves nothing until reset (or `params.command`: a real node's own
 * injection). With `remediate`, faultline also does what a node remediation controller does when
 * the DCGM exporter reports it: cordon the pod's node (no new pods there), or taint it NoExecute
 * (its pods evicted and placed elsewhere). The revert resets the GPU and clears the node.
 */
export const gpuXid: FaultImpl<"gpu-xid"> = {
  plan: async (f, ctx) => {
    const { k, ref, namespace, chosen } = await execTargets(f, ctx, 1);
    const { xid, remediate } = f.params;
    const after = Math.round(f.params.remediateAfter * (ctx.timeScale ?? 1));
    const failed = (what: string) => (err: unknown) => ctx.log.error({ err: String(err) }, `gpu-xid: ${what} failed`);
    const actions: Action[] = [];
    for (const c of chosen) {
      const vars = { pod: c.name, podIP: c.ip ?? "", namespace };
      const container = f.params.container ?? c.container ?? "";
      const command = fill(f.params.command ?? REPLICA_XID(xid), vars);
      const undo: ExecRevert = { ...ref, op: "exec", namespace, pod: c.name, container, command: fill(f.params.revertCommand ?? REPLICA_XID(0), vars), ...(f.params.command === undefined && remediate !== "taint" ? { activeCommand: fill(REPLICA_XID_ACTIVE, vars) } : {}) };
      // (a tainted node's pod is evicted: its XID gone with it is the remediation working, not someone undoing the fault)
      actions.push({
        description: `exec in ${namespace}/${c.name} (${container}): ${command.join(" ")}`,
        undo,
        apply: async () => {
          const r = await execIn(k, namespace, c.name, container, command);
          if (r.code !== 0) throw new FaultlineError("E_DRIVER", `kubernetes: XID in ${namespace}/${c.name} exited ${r.code}: ${(r.stderr || r.stdout).slice(0, 300)}`);
        },
      });
      if (remediate === "none") continue;
      const node = c.node;
      if (node === undefined) throw new FaultlineError("E_TARGET", `kubernetes: pod ${namespace}/${c.name} is on no node yet: there is nothing to ${remediate}`);
      const n = await k.core.readNode({ name: node }).catch((err: unknown) => {
        throw apiError(`read node ${node}`, err);
      });
      const cordon = async (): Promise<void> => {
        await k.core.patchNode({ name: node, body: { spec: { unschedulable: true } } }, MERGE).catch((err: unknown) => {
          throw apiError(`cordon node ${node}`, err);
        });
      };
      const taint = async (): Promise<void> => {
        const taints = ((await taintsOf(k, node)) ?? []).filter((t) => t.key !== XID_TAINT);
        await k.core.patchNode({ name: node, body: { spec: { taints: [...taints, { key: XID_TAINT, value: String(xid), effect: "NoExecute" }] } } }, MERGE).catch((err: unknown) => {
          throw apiError(`taint node ${node}`, err);
        });
      };
      // journaled with the XID, made `after` it (at once when 0): the undo clears it, or cancels it if it is still to come
      const make = remediate === "cordon" ? cordon : taint;
      actions.push({
        description: `${after > 0 ? `${after}ms later, ` : ""}${remediate === "cordon" ? `cordon node ${node}` : `taint node ${node} ${XID_TAINT}=${xid}:NoExecute (its pods move elsewhere)`}, as node remediation does for a GPU that reports XID ${xid}`,
        undo: remediate === "cordon" ? ({ ...ref, op: "uncordon", node, wasUnschedulable: n.spec?.unschedulable === true } satisfies Uncordon) : ({ ...ref, op: "untaint", node, key: XID_TAINT } satisfies Untaint),
        apply: async () => (after > 0 ? nodeLater(node, after, make, failed(`${remediate} node ${node}`)) : make()),
      });
    }
    return { targets: chosen.map((c) => `${namespace}/${c.name}`), actions };
  },
};
