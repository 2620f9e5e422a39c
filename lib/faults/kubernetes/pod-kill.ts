import { z } from "zod";
import { apiError } from "../../clients/kubernetes.ts";
import type { FaultImpl, UndoOp } from "../types.ts";
import { select } from "../select.ts";
import { KubeRef, allowedNamespace, guardPods, k8sOf, livePods, podSelector } from "./api.ts";

const PodDeleted = z.strictObject({ ...KubeRef, op: z.literal("none"), pod: z.string() });
type PodDeleted = z.infer<typeof PodDeleted>;

/** Nothing to put back: the pod's controller makes a new one, which `rescheduled` judges. */
export const podDeleted: UndoOp<PodDeleted> = { schema: PodDeleted, revert: async () => undefined, isActive: async () => true };

export const podKill: FaultImpl<"pod-kill"> = {
  plan: async (f, ctx) => {
    const { s, k, ref } = k8sOf(ctx, f.kind);
    const namespace = allowedNamespace(s, f.params.namespace, `fault ${ctx.faultName}`);
    const items = await livePods(k, namespace);
    const chosen = select(items, podSelector(f.selector, s), "pod");
    guardPods(chosen.length, items, s, ctx.faultName);
    return {
      targets: chosen.map((c) => `${namespace}/${c.name}`),
      actions: chosen.map((c) => ({
        description: `delete pod ${namespace}/${c.name} (grace ${f.params.gracePeriodSeconds}s; its controller replaces it)`,
        undo: { ...ref, op: "none", pod: `${namespace}/${c.name}` } satisfies PodDeleted,
        apply: async () => {
          await k.core.deleteNamespacedPod({ name: c.name, namespace, gracePeriodSeconds: f.params.gracePeriodSeconds }).catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404) throw apiError(`delete pod ${namespace}/${c.name}`, err);
          });
        },
      })),
    };
  },
};
