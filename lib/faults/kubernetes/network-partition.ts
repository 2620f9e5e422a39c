import { z } from "zod";
import { apiError, orNotFound } from "../../clients/kubernetes.ts";
import { FaultlineError } from "../../errors.ts";
import { select } from "../select.ts";
import type { FaultImpl, UndoOp } from "../types.ts";
import { KubeRef, allowedNamespace, clientFor, guardPods, k8sOf, livePods, podSelectorLabels, unlessGone, withShortLabels } from "./api.ts";

export const NETWORKCHAOS = { group: "chaos-mesh.org", version: "v1alpha1", plural: "networkchaos" } as const;

const DeleteNetworkChaos = z.strictObject({ ...KubeRef, op: z.literal("delete-networkchaos"), namespace: z.string(), name: z.string() });
type DeleteNetworkChaos = z.infer<typeof DeleteNetworkChaos>;

export const deleteNetworkChaos: UndoOp<DeleteNetworkChaos> = {
  schema: DeleteNetworkChaos,
  revert: async (u) => {
    await clientFor(u).custom.deleteNamespacedCustomObject({ ...NETWORKCHAOS, namespace: u.namespace, name: u.name }).catch(unlessGone(`delete NetworkChaos ${u.namespace}/${u.name}`));
  },
  isActive: async (u) => (await orNotFound(() => clientFor(u).custom.getNamespacedCustomObject({ ...NETWORKCHAOS, namespace: u.namespace, name: u.name }))) !== undefined,
};

/**
 * A Chaos Mesh NetworkChaos (action partition) between the selected pods and a target. Chaos Mesh
 * does the packet work on the nodes; faultline creates the object (journaled first), proves it
 * exists, and deletes it on revert. Its `duration` is the fault's, plus a minute: should faultline
 * die and nobody run `recover`, Chaos Mesh still ends the partition by itself.
 */
export const networkPartition: FaultImpl<"network-partition"> = {
  plan: async (f, ctx) => {
    const { s, k, ref } = k8sOf(ctx, f.kind);
    const namespace = allowedNamespace(s, f.params.namespace, `fault ${ctx.faultName}`);
    if (f.selector.names !== undefined) throw new FaultlineError("E_INVALID_INPUT", `fault ${ctx.faultName} (network-partition): select pods by matchLabels, not names`);
    try {
      await k.custom.listNamespacedCustomObject({ ...NETWORKCHAOS, namespace, limit: 1 });
    } catch (err) {
      if ((err as { code?: number }).code === 404) throw new FaultlineError("E_TARGET", `fault ${ctx.faultName}: the cluster has no NetworkChaos (chaos-mesh.org/v1alpha1); install Chaos Mesh, or use node-loss, zone-outage or region-outage`);
      throw apiError(`list NetworkChaos in ${namespace}`, err);
    }
    const items = await livePods(k, namespace);
    const chosen = select(items, { matchLabels: withShortLabels(podSelectorLabels(f.selector.matchLabels)) }, "pod");
    guardPods(chosen.length, items, s, ctx.faultName);
    const name = `faultline-${ctx.runId.slice(-4)}-${ctx.faultName}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 63);
    const selector = { namespaces: [namespace], labelSelectors: podSelectorLabels(f.selector.matchLabels) };
    const body = {
      apiVersion: `${NETWORKCHAOS.group}/${NETWORKCHAOS.version}`,
      kind: "NetworkChaos",
      metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "faultline", "faultline.dev/run": ctx.runId.slice(-40) } },
      spec: {
        action: "partition",
        mode: "all",
        selector,
        direction: f.params.direction,
        ...(f.params.target ? { target: { mode: "all", selector: { namespaces: [namespace], labelSelectors: podSelectorLabels(f.params.target) } } } : {}),
        duration: `${Math.ceil(f.duration / 1000) + 60}s`,
      },
    };
    return {
      targets: chosen.map((c) => `${namespace}/${c.name}`),
      actions: [
        {
          description: `NetworkChaos ${namespace}/${name}: partition ${chosen.length} pod(s) (${Object.entries(selector.labelSelectors).map(([a, b]) => `${a}=${b}`).join(",")}) ${f.params.direction} ${f.params.target ? Object.entries(f.params.target).map(([a, b]) => `${a}=${b}`).join(",") : "everything"}`,
          undo: { ...ref, op: "delete-networkchaos", namespace, name } satisfies DeleteNetworkChaos,
          apply: async () => {
            await k.custom.createNamespacedCustomObject({ ...NETWORKCHAOS, namespace, body }).catch((err: unknown) => {
              throw apiError(`create NetworkChaos ${namespace}/${name}`, err);
            });
            await k.custom.getNamespacedCustomObject({ ...NETWORKCHAOS, namespace, name }).catch((err: unknown) => {
              throw apiError(`read back NetworkChaos ${namespace}/${name}`, err);
            });
          },
        },
      ],
    };
  },
};