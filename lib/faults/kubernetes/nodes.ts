import type { V1Node } from "@kubernetes/client-node";
import { z } from "zod";
import { retryUntil } from "../../clock.ts";
import { KWOK_ANNOTATION_KEY, ZONE_LABEL, apiError, isReady, orNotFound } from "../../clients/kubernetes.ts";
import type { Kube } from "../../clients/kubernetes.ts";
import { FaultlineError } from "../../errors.ts";
import type { Selector } from "../../schema/faults.ts";
import type { Action, FaultImpl, FaultPlan, PlanContext, UndoOp } from "../types.ts";
import { select } from "../select.ts";
import { KubeRef, MERGE, clientFor, guardFraction, k8sOf, listNodes, nodeItems } from "./api.ts";

/** kwok's own chaos stage: a node carrying this label reports Ready=False until it is removed. */
export const NOT_READY_LABEL = "node-not-ready.stage.kwok.x-k8s.io";

const NodeReady = z.strictObject({ ...KubeRef, op: z.literal("node-ready"), node: z.string(), addresses: z.array(z.object({ type: z.string(), address: z.string() })).default([]) });
type NodeReady = z.infer<typeof NodeReady>;
const Uncordon = z.strictObject({ ...KubeRef, op: z.literal("uncordon"), node: z.string(), wasUnschedulable: z.boolean() });
export type Uncordon = z.infer<typeof Uncordon>;

async function proveNode(k: Kube, name: string, ok: (n: V1Node) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  await retryUntil(
    () => k.core.readNode({ name }),
    ok,
    ({ elapsedMs }) => new FaultlineError("E_DRIVER", `kubernetes: node ${name} not ${what} ${elapsedMs}ms after the fault`),
    { timeoutMs, intervalMs: 200 },
  );
}

export const nodeReady: UndoOp<NodeReady> = {
  schema: NodeReady,
  revert: async (u) => {
    const k = clientFor(u);
    const name = u.node;
    const node = await orNotFound(() => k.core.readNode({ name }));
    if (node === undefined) return; // gone: nothing left to restore
    if (node.metadata?.labels?.[NOT_READY_LABEL] !== undefined) {
      await k.core.patchNode({ name, body: { metadata: { labels: { [NOT_READY_LABEL]: null } } } }, MERGE).catch((err: unknown) => {
        throw apiError(`unlabel node ${name}`, err);
      });
    }
    // kwok's heartbeat drops a node's addresses when it reports Ready again after its not-ready
    // stage; without an InternalIP the API server cannot reach the node's "kubelet" (exec, logs)
    if (u.addresses.length === 0) return;
    await proveNode(k, name, isReady, "Ready again");
    await retryUntil(
      async () => {
        const now = await k.core.readNode({ name });
        if ((now.status?.addresses ?? []).length > 0) return true;
        await k.core.patchNodeStatus({ name, body: { status: { addresses: u.addresses } } }, MERGE);
        return false;
      },
      (ok) => ok,
      ({ elapsedMs }) => new FaultlineError("E_DRIVER", `kubernetes: node ${name} still has no addresses ${elapsedMs}ms after its revert`),
      { timeoutMs: 10_000, intervalMs: 500 },
    );
  },
  isActive: async (u) => (await orNotFound(() => clientFor(u).core.readNode({ name: u.node })))?.metadata?.labels?.[NOT_READY_LABEL] !== undefined,
};

/** Node changes still to come (gpu-xid's remediation, made a while after the XID), by node: their fault's revert cancels them. */
const pending = new Map<string, NodeJS.Timeout>();

/** `make` on `node` after `ms`, unless a revert cancels it first; its error goes to `onError` (the fault is in place by then). */
export function nodeLater(node: string, ms: number, make: () => Promise<void>, onError: (err: unknown) => void): void {
  clearTimeout(pending.get(node));
  pending.set(
    node,
    setTimeout(() => {
      pending.delete(node);
      make().catch(onError);
    }, ms),
  );
}

/** A change still to come counts as in effect: the fault holds it. */
export function isPending(node: string): boolean {
  return pending.has(node);
}

export function cancelLater(node: string): void {
  clearTimeout(pending.get(node));
  pending.delete(node);
}

export const uncordon: UndoOp<Uncordon> = {
  schema: Uncordon,
  revert: async (u) => {
    cancelLater(u.node);
    if (u.wasUnschedulable) return;
    await clientFor(u).core.patchNode({ name: u.node, body: { spec: { unschedulable: null } } }, MERGE).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 404) throw apiError(`uncordon node ${u.node}`, err);
    });
  },
  isActive: async (u) => isPending(u.node) || (await orNotFound(() => clientFor(u).core.readNode({ name: u.node })))?.spec?.unschedulable === true,
};

/** Nodes lost: kwok nodes report NotReady (mode not-ready); any node can be cordoned and drained (mode drain). */
async function planNodes(f: { selector: Selector }, mode: "not-ready" | "drain", ctx: PlanContext, kind: string): Promise<FaultPlan> {
  const { s, k, ref } = k8sOf(ctx, kind);
  const all = nodeItems(await listNodes(k));
  const chosen = select(all, f.selector, "node");
  guardFraction(chosen.length, all.length, s, "nodes", ctx.faultName);
  const actions: Action[] = chosen.map(({ name, node }): Action<NodeReady> | Action<Uncordon> => {
    if (mode === "not-ready") {
      if (node.metadata?.annotations?.[KWOK_ANNOTATION_KEY] === undefined) {
        throw new FaultlineError("E_TARGET", `node ${name} is not simulated by kwok: mode not-ready cannot stop a real kubelet; use params.mode: drain`);
      }
      return {
        description: `node ${name} stops reporting Ready`,
        undo: { ...ref, op: "node-ready", node: name, addresses: (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })) },
        apply: async () => {
          await k.core.patchNode({ name, body: { metadata: { labels: { [NOT_READY_LABEL]: "true" } } } }, MERGE).catch((err: unknown) => {
            throw apiError(`label node ${name} not-ready`, err);
          });
          await proveNode(k, name, (n) => !isReady(n), "NotReady");
        },
      };
    }
    return {
      description: `cordon and drain node ${name} (namespaces ${s.namespaces.join(", ")})`,
      undo: { ...ref, op: "uncordon", node: name, wasUnschedulable: node.spec?.unschedulable === true },
      apply: async () => {
        await k.core.patchNode({ name, body: { spec: { unschedulable: true } } }, MERGE).catch((err: unknown) => {
          throw apiError(`cordon node ${name}`, err);
        });
        for (const ns of s.namespaces) {
          const pods = await k.core.listNamespacedPod({ namespace: ns, fieldSelector: `spec.nodeName=${name}` });
          for (const p of pods.items) {
            await k.core
              .createNamespacedPodEviction({ name: p.metadata?.name as string, namespace: ns, body: { metadata: { name: p.metadata?.name as string, namespace: ns } } })
              .catch((err: unknown) => {
                if ((err as { code?: number }).code !== 404) throw apiError(`evict pod ${ns}/${p.metadata?.name}`, err);
              });
          }
        }
      },
    };
  });
  return { targets: chosen.map((c) => c.name), actions };
}

export const nodeLoss: FaultImpl<"node-loss"> = { plan: (f, ctx) => planNodes(f, f.params.mode, ctx, f.kind) };

export const zoneOutage: FaultImpl<"zone-outage"> = {
  plan: (f, ctx) => {
    if (f.selector.matchLabels?.zone === undefined && f.selector.matchLabels?.[ZONE_LABEL] === undefined) {
      throw new FaultlineError("E_INVALID_INPUT", `fault ${ctx.faultName} (zone-outage): the selector must name the zone (matchLabels: { zone: … })`);
    }
    return planNodes(f, f.params.mode, ctx, f.kind);
  },
};

/** On a cluster the target does not route through Toxiproxy: every node with the region's label lost. */
export const regionOutage: FaultImpl<"region-outage"> = { plan: (f, ctx) => planNodes(f, "not-ready", ctx, f.kind) };
