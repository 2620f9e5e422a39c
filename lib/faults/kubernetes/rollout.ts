import type { V1Deployment, V1PodTemplateSpec } from "@kubernetes/client-node";
import { z } from "zod";
import { apiError, orNotFound } from "../../clients/kubernetes.ts";
import type { FaultOf } from "../../schema/faults.ts";
import { select } from "../select.ts";
import type { FaultImpl, FaultPlan, PlanContext, UndoOp } from "../types.ts";
import { JSON_PATCH, KubeRef, STRATEGIC_MERGE, clientFor, guardFraction, k8sOf, unlessGone, withShortLabels } from "./api.ts";

/** The parts of a pod template that a rollout changes and a rollback restores. */
function templateOf(d: V1Deployment): V1PodTemplateSpec {
  return d.spec?.template ?? {};
}

/** The template as plain JSON (the client's objects carry Dates; a pod template's keys are the API's own). */
function templateJson(t: V1PodTemplateSpec): Record<string, unknown> {
  return JSON.parse(JSON.stringify(t)) as Record<string, unknown>;
}

const RestoreTemplate = z.strictObject({ ...KubeRef, op: z.literal("restore-template"), namespace: z.string(), deployment: z.string(), template: z.record(z.string(), z.unknown()) });
type RestoreTemplate = z.infer<typeof RestoreTemplate>;

/** The whole previous template put back: the Deployment returns to its previous ReplicaSet. */
export const restoreTemplate: UndoOp<RestoreTemplate> = {
  schema: RestoreTemplate,
  revert: async (u) => {
    await clientFor(u)
      .apps.patchNamespacedDeployment({ name: u.deployment, namespace: u.namespace, body: [{ op: "replace", path: "/spec/template", value: u.template }] }, JSON_PATCH)
      .catch(unlessGone(`restore deployment ${u.namespace}/${u.deployment}`));
  },
  isActive: async (u) => {
    const d = await orNotFound(() => clientFor(u).apps.readNamespacedDeployment({ name: u.deployment, namespace: u.namespace }));
    const now = d?.spec?.template ? templateJson(d.spec.template) : undefined;
    return now !== undefined && JSON.stringify((now.spec as { containers?: unknown }).containers) !== JSON.stringify((u.template as { spec?: { containers?: unknown } }).spec?.containers);
  },
};

async function planRollout(f: FaultOf<"bad-rollout"> | FaultOf<"rollout">, ctx: PlanContext): Promise<FaultPlan> {
  const { s, k, ref } = k8sOf(ctx, f.kind);
  const deployments: { name: string; labels: Record<string, string>; d: V1Deployment; namespace: string }[] = [];
  for (const ns of s.namespaces) {
    const list = await k.apps.listNamespacedDeployment({ namespace: ns }).catch((err: unknown) => { throw apiError(`list deployments in ${ns}`, err); });
    for (const d of list.items) deployments.push({ name: d.metadata?.name ?? "?", labels: withShortLabels(d.metadata?.labels), d, namespace: ns });
  }
  const chosen = select(deployments, f.selector, "deployment");
  guardFraction(chosen.length, deployments.length, s, "deployments", ctx.faultName);
  return {
    targets: chosen.map((c) => `${c.namespace}/${c.name}`),
    actions: chosen.map((c) => {
      const previous = templateOf(c.d);
      const containers = (previous.spec?.containers ?? []).map((ct) => ({
        name: ct.name,
        ...(f.params.image ? { image: f.params.image } : {}),
        env: [...(ct.env ?? []).filter((e) => e.name !== "MODEL_VERSION"), { name: "MODEL_VERSION", value: f.params.version }],
      }));
      return {
        description: `roll out ${f.params.version} to ${c.namespace}/${c.name}`,
        // the whole previous template: putting it back makes the Deployment return to its previous ReplicaSet
        undo: { ...ref, op: "restore-template", namespace: c.namespace, deployment: c.name, template: templateJson(previous) } satisfies RestoreTemplate,
        apply: async () => {
          const body = { spec: { template: { metadata: { labels: { "faultline.dev/version": f.params.version } }, spec: { containers } } } };
          await k.apps
            .patchNamespacedDeployment({ name: c.name, namespace: c.namespace, body }, STRATEGIC_MERGE)
            .catch((err: unknown) => {
              throw apiError(`patch deployment ${c.namespace}/${c.name}`, err);
            });
        },
      };
    }),
  };
}

export const badRollout: FaultImpl<"bad-rollout"> = { plan: planRollout };
export const rollout: FaultImpl<"rollout"> = { plan: planRollout };
