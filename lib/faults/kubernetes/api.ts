import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { z } from "zod";
import { REGION_LABEL, ZONE_LABEL, apiError, kube } from "../../clients/kubernetes.ts";
import type { Kube } from "../../clients/kubernetes.ts";
import { FaultlineError } from "../../errors.ts";
import type { Selector } from "../../schema/faults.ts";
import type { Target } from "../../schema/target.ts";
import { allowedNamespace } from "../../schema/target.ts";
export { allowedNamespace };
import { select } from "../select.ts";
import type { PlanContext } from "../types.ts";

/** What the Kubernetes fault kinds share: clients, the allow-list and blast-radius guards, label names. */

export type K8sSection = NonNullable<Target["kubernetes"]>;

export const MERGE = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
export const JSON_PATCH = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
export const STRATEGIC_MERGE = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);

/** Every Kubernetes undo record says which cluster: the kubeconfig and context it was made with. */
export const KubeRef = { driver: z.literal("kubernetes"), kubeconfig: z.string(), context: z.string().optional() };
export type KubeRef = { kubeconfig: string; context?: string };

/** Experiments say `region` and `zone`; Kubernetes says topology.kubernetes.io/…. Both work. */
const SHORT: Record<string, string> = { region: REGION_LABEL, zone: ZONE_LABEL };
export function withShortLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  for (const [short, long] of Object.entries(SHORT)) if (out[long] !== undefined) out[short] = out[long];
  return out;
}

const clients = new Map<string, Kube>();
function client(kubeconfig: string, context: string | undefined): Kube {
  const key = `${kubeconfig}#${context ?? ""}`;
  let k = clients.get(key);
  if (k === undefined) {
    k = kube(kubeconfig, context);
    clients.set(key, k);
  }
  return k;
}


/** The client for an undo record's cluster. */
export function clientFor(u: KubeRef): Kube {
  return client(u.kubeconfig, u.context);
}

export function k8sOf(ctx: PlanContext, kind: string): { s: K8sSection; k: Kube; ref: { driver: "kubernetes" } & KubeRef } {
  const s = ctx.target.kubernetes;
  if (s === undefined) throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${kind}) needs a kubernetes section in target ${ctx.target.metadata.name}`);
  return { s, k: client(s.kubeconfig, s.context), ref: { driver: "kubernetes", kubeconfig: s.kubeconfig, ...(s.context ? { context: s.context } : {}) } };
}

/** The blast-radius guard: refuses a fault that would hit more than maxFraction of what matched its kind. */
export function guardFraction(chosen: number, of: number, s: K8sSection, what: string, faultName: string): void {
  if (of > 0 && chosen / of > s.maxFraction + 1e-9) {
    throw new FaultlineError(
      "E_TARGET",
      `fault ${faultName} would hit ${chosen} of ${of} ${what} (${Math.round((chosen / of) * 100)}%), over the target's blast radius of ${Math.round(s.maxFraction * 100)}% (kubernetes.maxFraction)`,
    );
  }
}

export async function listNodes(k: Kube): Promise<V1Node[]> {
  try {
    return (await k.core.listNode({})).items;
  } catch (err) {
    throw apiError("list nodes", err);
  }
}

export function nodeItems(nodes: V1Node[]): { name: string; labels: Record<string, string>; node: V1Node }[] {
  return nodes.map((n) => ({ name: n.metadata?.name ?? "?", labels: withShortLabels(n.metadata?.labels), node: n }));
}

function podLabels(p: V1Pod): Record<string, string> {
  return withShortLabels(p.metadata?.labels);
}

/** The blast radius for pods: the chosen ones against the workload's pods in the namespace (at least the chosen). */
export function guardPods(chosen: number, items: readonly { labels: Record<string, string> }[], s: K8sSection, faultName: string): void {
  const peers = items.filter((it) => Object.entries(s.workload).every(([key, v]) => it.labels[key] === v)).length;
  guardFraction(chosen, Math.max(peers, chosen), s, "pods", faultName);
}

/** The namespace's pods that are not already going away, with short topology labels added. */
export async function livePods(k: Kube, namespace: string): Promise<{ name: string; labels: Record<string, string>; ip: string | undefined; container: string | undefined; node: string | undefined }[]> {
  const list = await k.core.listNamespacedPod({ namespace }).catch((err: unknown) => {
    throw apiError(`list pods in ${namespace}`, err);
  });
  return list.items
    .filter((p) => p.metadata?.deletionTimestamp === undefined)
    .map((p) => ({ name: p.metadata?.name ?? "?", labels: podLabels(p), ip: p.status?.podIP, container: p.spec?.containers[0]?.name, node: p.spec?.nodeName }));
}

/** Experiments may name replicas logically (us-east-1); the target maps those names to pods. */
export function podSelector(sel: Selector, s: K8sSection): Selector {
  return sel.names === undefined ? sel : { ...sel, names: sel.names.map((n) => s.names[n] ?? n) };
}

/** Long labels for a pod selector: `region` and `zone` mean the topology labels, as everywhere. */
export function podSelectorLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).map(([k, v]) => [SHORT[k] ?? k, v]));
}

/** A 404 is what a revert expects of something already gone. */
export function unlessGone(what: string): (err: unknown) => void {
  return (err) => {
    if ((err as { code?: number }).code !== 404) throw apiError(what, err);
  };
}

/**
 * The pods a fault execs in: those with an IP in its namespace (the target's first unless it names
 * one on the allow-list) that its selector picks — `defaultCount` of them when it says neither how
 * many nor what share — within the blast radius.
 */
export async function execTargets(f: { kind: string; selector: Selector; params: { namespace?: string | undefined } }, ctx: PlanContext, defaultCount?: number): Promise<{ k: Kube; ref: ReturnType<typeof k8sOf>["ref"]; namespace: string; chosen: Awaited<ReturnType<typeof livePods>> }> {
  const { s, k, ref } = k8sOf(ctx, f.kind);
  const namespace = allowedNamespace(s, f.params.namespace, `fault ${ctx.faultName}`);
  const items = (await livePods(k, namespace)).filter((p) => p.ip !== undefined);
  const sel = podSelector(f.selector, s);
  const chosen = select(items, { ...sel, count: sel.count ?? (sel.percent === undefined ? defaultCount : undefined) }, "pod");
  guardPods(chosen.length, items, s, ctx.faultName);
  return { k, ref, namespace, chosen };
}
