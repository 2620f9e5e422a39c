import type { V1Deployment, V1PodTemplateSpec } from "@kubernetes/client-node";
import { z } from "zod";
import { apiError, orNotFound } from "../../clients/kubernetes.ts";
import type { Kube } from "../../clients/kubernetes.ts";
import type { FaultOf } from "../../schema/faults.ts";
import { select } from "../select.ts";
import type { FaultImpl, FaultPlan, PlanContext, UndoOp } from "../types.ts";
import { JSON_PATCH, KubeRef, MERGE, clientFor, guardFraction, k8sOf, unlessGone, withShortLabels } from "./api.ts";

/** The parts of a pod template that a rollout changes and a rollback restores. */
function templateOf(d: V1Deployment): V1PodTemplateSpec {
  return d.spec?.template ?? {};
}

/** The template as plain JSON (the client's objects carry Dates; a pod template's keys are the API's own). */
function templateJson(t: V1PodTemplateSpec): Record<string, unknown> {
  return JSON.parse(JSON.stringify(t)) as Record<string, unknown>;
}

const RestoreTemplate = z.strictObject({
  ...KubeRef,
  op: z.literal("restore-template"),
  namespace: z.string(),
  deployment: z.string(),
  /** an Argo Rollout rather than a Deployment (absent in journals from before Rollouts) */
  kind: z.enum(["Deployment", "Rollout"]).optional(),
  template: z.record(z.string(), z.unknown()),
});
type RestoreTemplate = z.infer<typeof RestoreTemplate>;

const ROLLOUT_API = { group: "argoproj.io", version: "v1alpha1", plural: "rollouts" } as const;

/** A workload whose pod template a rollout changes: a Deployment, or an Argo Rollout (same template, a canary controller). */
interface Workload {
  kind: "Deployment" | "Rollout";
  name: string;
  namespace: string;
  labels: Record<string, string>;
  template: V1PodTemplateSpec;
}

async function readTemplate(k: Kube, u: Pick<RestoreTemplate, "kind" | "namespace" | "deployment">): Promise<V1PodTemplateSpec | undefined> {
  if (u.kind === "Rollout") {
    const r = await orNotFound(async () => (await k.custom.getNamespacedCustomObject({ ...ROLLOUT_API, namespace: u.namespace, name: u.deployment })) as { spec?: { template?: V1PodTemplateSpec } });
    return r?.spec?.template;
  }
  return (await orNotFound(() => k.apps.readNamespacedDeployment({ name: u.deployment, namespace: u.namespace })))?.spec?.template;
}

/** Replaces the workload's whole pod template (a JSON patch: a Rollout takes no strategic merge). */
async function replaceTemplate(k: Kube, w: { kind?: "Deployment" | "Rollout"; namespace: string; name: string }, template: Record<string, unknown>): Promise<void> {
  const body = [{ op: "replace", path: "/spec/template", value: template }];
  if (w.kind === "Rollout") await k.custom.patchNamespacedCustomObject({ ...ROLLOUT_API, namespace: w.namespace, name: w.name, body }, JSON_PATCH);
  else await k.apps.patchNamespacedDeployment({ name: w.name, namespace: w.namespace, body }, JSON_PATCH);
}

/**
 * After a Rollout's template is put back: when that makes a new rollout rather than a return to the
 * stable ReplicaSet (the fault's version was promoted meanwhile), it is promoted at once, as
 * `kubectl argo rollouts promote --full` does: undoing a fault is no canary, and the next
 * experiment must not start on a fleet still stepping through one.
 */
async function promoteRevertAtOnce(k: Kube, namespace: string, name: string): Promise<void> {
  const ref = { ...ROLLOUT_API, namespace, name };
  const deadline = Date.now() + 10_000;
  const before = (await orNotFound(async () => (await k.custom.getNamespacedCustomObject(ref)) as { metadata?: { generation?: number } }))?.metadata?.generation;
  while (Date.now() < deadline) {
    const r = await orNotFound(async () => (await k.custom.getNamespacedCustomObject(ref)) as { metadata?: { generation?: number }; status?: { observedGeneration?: string; currentPodHash?: string; stableRS?: string } });
    if (r === undefined) return;
    // the controller has seen the restored template once it observed this generation
    if (String(r.status?.observedGeneration ?? "") === String(r.metadata?.generation ?? before)) {
      if (r.status?.currentPodHash === undefined || r.status.currentPodHash === r.status.stableRS) return;
      await k.custom.patchNamespacedCustomObjectStatus({ ...ref, body: { status: { promoteFull: true } } }, MERGE);
      return;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The whole previous template put back: the Deployment returns to its previous ReplicaSet, a Rollout to its stable one. */
export const restoreTemplate: UndoOp<RestoreTemplate> = {
  schema: RestoreTemplate,
  revert: async (u) => {
    const k = clientFor(u);
    await replaceTemplate(k, { ...(u.kind ? { kind: u.kind } : {}), namespace: u.namespace, name: u.deployment }, u.template).catch(unlessGone(`restore ${u.kind ?? "Deployment"} ${u.namespace}/${u.deployment}`));
    if (u.kind === "Rollout") await promoteRevertAtOnce(k, u.namespace, u.deployment);
  },
  isActive: async (u) => {
    const t = await readTemplate(clientFor(u), u);
    const now = t ? templateJson(t) : undefined;
    return now !== undefined && JSON.stringify((now.spec as { containers?: unknown }).containers) !== JSON.stringify((u.template as { spec?: { containers?: unknown } }).spec?.containers);
  },
};

async function listWorkloads(k: Kube, namespaces: readonly string[]): Promise<Workload[]> {
  const out: Workload[] = [];
  for (const ns of namespaces) {
    const list = await k.apps.listNamespacedDeployment({ namespace: ns }).catch((err: unknown) => { throw apiError(`list deployments in ${ns}`, err); });
    for (const d of list.items) out.push({ kind: "Deployment", name: d.metadata?.name ?? "?", namespace: ns, labels: withShortLabels(d.metadata?.labels), template: templateOf(d) });
    const rollouts = await k.custom.listNamespacedCustomObject({ ...ROLLOUT_API, namespace: ns }).catch((err: unknown) => {
      if ((err as { code?: number }).code === 404) return { items: [] }; // no Argo Rollouts in this cluster
      throw apiError(`list rollouts in ${ns}`, err);
    });
    for (const r of (rollouts as { items?: { metadata?: { name?: string; labels?: Record<string, string> }; spec?: { template?: V1PodTemplateSpec } }[] }).items ?? []) {
      out.push({ kind: "Rollout", name: r.metadata?.name ?? "?", namespace: ns, labels: withShortLabels(r.metadata?.labels), template: r.spec?.template ?? {} });
    }
  }
  return out;
}

async function planRollout(f: FaultOf<"bad-rollout"> | FaultOf<"rollout">, ctx: PlanContext): Promise<FaultPlan> {
  const { s, k, ref } = k8sOf(ctx, f.kind);
  const workloads = await listWorkloads(k, s.namespaces);
  const chosen = select(workloads, f.selector, "deployment or rollout");
  guardFraction(chosen.length, workloads.length, s, "workloads", ctx.faultName);
  return {
    targets: chosen.map((c) => `${c.namespace}/${c.name}`),
    actions: chosen.map((c) => {
      const previous = templateJson(c.template);
      const next = structuredClone(previous) as { metadata?: { labels?: Record<string, string> }; spec?: { containers?: { name: string; image?: string; env?: { name: string; value?: string }[] }[] } };
      next.metadata = { ...next.metadata, labels: { ...next.metadata?.labels, "faultline.dev/version": f.params.version } };
      for (const ct of next.spec?.containers ?? []) {
        if (f.params.image) ct.image = f.params.image;
        // MODEL_VERSION keeps its place: a Rollout's analysis reads it as env[0]
        const env = ct.env ?? [];
        const at = env.findIndex((e) => e.name === "MODEL_VERSION");
        if (at >= 0) env[at] = { name: "MODEL_VERSION", value: f.params.version };
        else env.push({ name: "MODEL_VERSION", value: f.params.version });
        ct.env = env;
      }
      return {
        description: `roll out ${f.params.version} to ${c.kind === "Rollout" ? "Rollout " : ""}${c.namespace}/${c.name}`,
        // the whole previous template: putting it back makes the workload return to its previous ReplicaSet
        undo: { ...ref, op: "restore-template", namespace: c.namespace, deployment: c.name, ...(c.kind === "Rollout" ? { kind: "Rollout" as const } : {}), template: previous } satisfies RestoreTemplate,
        apply: async () => {
          await replaceTemplate(k, c, next as Record<string, unknown>).catch((err: unknown) => {
            throw apiError(`patch ${c.kind} ${c.namespace}/${c.name}`, err);
          });
        },
      };
    }),
  };
}

export const badRollout: FaultImpl<"bad-rollout"> = { plan: planRollout };
export const rollout: FaultImpl<"rollout"> = { plan: planRollout };
