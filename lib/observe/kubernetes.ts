import { makeInformer } from "@kubernetes/client-node";
import type { Informer, KubernetesObject, V1Node, V1Pod } from "@kubernetes/client-node";
import { GPU, follow, isReady, kube, selectorString } from "../clients/kubernetes.ts";
import type { Target } from "../schema/target.ts";
import type { EventSink, Observer } from "./observer.ts";

type K8sSection = NonNullable<Target["kubernetes"]>;

interface PodView {
  name: string;
  node: string | undefined;
  ready: boolean;
  deleting: boolean;
  gpus: number;
}

interface NodeView {
  ready: boolean;
  schedulable: boolean;
  gpus: number;
}

const gpusOf = (p: V1Pod): number => (p.spec?.containers ?? []).reduce((s, c) => s + Number(c.resources?.requests?.[GPU] ?? 0), 0);

/** What changed for one pod, as timeline events: [type, message]. */
function podChanges(before: PodView | undefined, now: PodView): [string, string][] {
  const out: [string, string][] = [];
  const name = now.name;
  if (now.deleting && !before?.deleting) out.push(["k8s.pod.deleted", `pod ${name} deleted${now.node ? ` (on ${now.node})` : ""}`]);
  if (!now.deleting && now.node && before?.node !== now.node) out.push(["k8s.pod.scheduled", `pod ${name} scheduled on ${now.node}`]);
  if (now.ready && !now.deleting && !before?.ready) out.push(["k8s.pod.ready", `pod ${name} Ready on ${now.node}`]);
  if (!now.ready && before?.ready && !now.deleting) out.push(["k8s.pod.unready", `pod ${name} not Ready`]);
  return out;
}

function nodeChanges(name: string, before: NodeView, now: NodeView): [string, string][] {
  const out: [string, string][] = [];
  if (before.ready && !now.ready) out.push(["k8s.node.not-ready", `node ${name} NotReady`]);
  if (!before.ready && now.ready) out.push(["k8s.node.ready", `node ${name} Ready`]);
  if (before.schedulable && !now.schedulable) out.push(["k8s.node.cordoned", `node ${name} cordoned`]);
  if (!before.schedulable && now.schedulable) out.push(["k8s.node.uncordoned", `node ${name} uncordoned`]);
  return out;
}

/** The workload's Ready replicas and where they run, and the GPUs left on usable nodes against what it requests. */
function workloadAndCapacity(pods: ReadonlyMap<string, PodView>, nodes: ReadonlyMap<string, NodeView>) {
  const readyPods = [...pods.values()].filter((p) => p.ready && !p.deleting);
  const byNode: Record<string, number> = {};
  for (const p of readyPods) if (p.node) byNode[p.node] = (byNode[p.node] ?? 0) + 1;
  const live = [...pods.values()].filter((p) => !p.deleting);
  const usable = [...nodes.values()].filter((n) => n.ready && n.schedulable);
  return {
    workload: { ready: readyPods.length, pods: live.length, byNode },
    capacity: { allocatableGpus: usable.reduce((sum, n) => sum + n.gpus, 0), requestedGpus: live.reduce((sum, p) => sum + p.gpus, 0), readyNodes: usable.length, nodes: nodes.size },
  };
}

/**
 * Watches (list + watch, through the client's informers) the workload's pods and every node, and
 * writes what changed into the timeline: pods deleted, scheduled, ready; nodes NotReady, Ready,
 * cordoned. After each change it records the workload snapshot (`k8s.workload`: Ready replicas and
 * where they run) and the GPU capacity (`k8s.capacity`), which `rescheduled` and `capacity` judge.
 */
export function kubernetesObserver(s: K8sSection, event: EventSink): Observer {
  const k = kube(s.kubeconfig, s.context);
  const pods = new Map<string, PodView>();
  const nodes = new Map<string, NodeView>();
  const informers: Informer<KubernetesObject>[] = [];
  let lastWorkload = "";
  let lastCapacity = "";
  let started = false;

  const snapshot = (): void => {
    if (!started) return;
    const { workload, capacity } = workloadAndCapacity(pods, nodes);
    const w = JSON.stringify(workload);
    if (w !== lastWorkload) {
      lastWorkload = w;
      event("k8s.workload", `${workload.ready} of ${workload.pods} replicas Ready`, workload);
    }
    const c = JSON.stringify(capacity);
    if (c !== lastCapacity) {
      lastCapacity = c;
      event("k8s.capacity", `${capacity.allocatableGpus} GPUs on ${capacity.readyNodes} usable nodes; the workload requests ${capacity.requestedGpus}`, capacity);
    }
  };

  const onPod = (p: V1Pod, deleted: boolean): void => {
    const name = `${p.metadata?.namespace}/${p.metadata?.name}`;
    const uid = p.metadata?.uid ?? name;
    const before = pods.get(uid);
    const now: PodView = { name, node: p.spec?.nodeName, ready: isReady(p), deleting: deleted || p.metadata?.deletionTimestamp !== undefined, gpus: gpusOf(p) };
    if (deleted) pods.delete(uid);
    else pods.set(uid, now);
    if (started) for (const [type, message] of podChanges(before, now)) event(type, message, { pod: name, node: now.node });
    snapshot();
  };

  const onNode = (n: V1Node, deleted: boolean): void => {
    const name = n.metadata?.name ?? "?";
    const before = nodes.get(name);
    const now: NodeView = { ready: isReady(n), schedulable: n.spec?.unschedulable !== true, gpus: Number(n.status?.allocatable?.[GPU] ?? 0) };
    if (deleted) nodes.delete(name);
    else nodes.set(name, now);
    if (started && before !== undefined) for (const [type, message] of nodeChanges(name, before, now)) event(type, message, { node: name });
    snapshot();
  };

  const watch = <T extends KubernetesObject>(what: string, inf: Informer<T>, on: (o: T, deleted: boolean) => void): void => {
    const onError = (err: unknown): void =>
      event("observer.error", `kubernetes ${what} watch: ${err instanceof Error ? err.message : String(err)}; restarting`, { observer: `kubernetes-${what}` });
    informers.push(follow(inf, on, () => stopped, onError) as unknown as Informer<KubernetesObject>);
  };
  let stopped = false;
  const labelSelector = selectorString(s.workload);

  return {
    name: "kubernetes",
    start: async () => {
      for (const ns of s.namespaces) {
        watch("pods", makeInformer<V1Pod>(k.kc, `/api/v1/namespaces/${ns}/pods`, () => k.core.listNamespacedPod({ namespace: ns, labelSelector }), labelSelector), onPod);
      }
      watch("nodes", makeInformer<V1Node>(k.kc, "/api/v1/nodes", () => k.core.listNode({})), onNode);
      try {
        await Promise.all(informers.map((i) => i.start()));
      } catch (err) {
        event("observer.error", `kubernetes: ${err instanceof Error ? err.message : String(err)}`, { observer: "kubernetes" });
      }
      started = true;
      snapshot();
    },
    stop: async () => {
      stopped = true;
      await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
    },
  };
}
