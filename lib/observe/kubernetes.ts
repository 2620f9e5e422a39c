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
    const readyPods = [...pods.values()].filter((p) => p.ready && !p.deleting);
    const byNode: Record<string, number> = {};
    for (const p of readyPods) if (p.node) byNode[p.node] = (byNode[p.node] ?? 0) + 1;
    const live = [...pods.values()].filter((p) => !p.deleting);
    const workload = { ready: readyPods.length, pods: live.length, byNode };
    const w = JSON.stringify(workload);
    if (w !== lastWorkload) {
      lastWorkload = w;
      event("k8s.workload", `${workload.ready} of ${workload.pods} replicas Ready`, workload);
    }
    const usable = [...nodes.values()].filter((n) => n.ready && n.schedulable);
    const capacity = {
      allocatableGpus: usable.reduce((sum, n) => sum + n.gpus, 0),
      requestedGpus: live.reduce((sum, p) => sum + p.gpus, 0),
      readyNodes: usable.length,
      nodes: nodes.size,
    };
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
    if (started) {
      if (now.deleting && !before?.deleting) event("k8s.pod.deleted", `pod ${name} deleted${now.node ? ` (on ${now.node})` : ""}`, { pod: name, node: now.node });
      if (!now.deleting && now.node && before?.node !== now.node) event("k8s.pod.scheduled", `pod ${name} scheduled on ${now.node}`, { pod: name, node: now.node });
      if (now.ready && !now.deleting && !before?.ready) event("k8s.pod.ready", `pod ${name} Ready on ${now.node}`, { pod: name, node: now.node });
      if (!now.ready && before?.ready && !now.deleting) event("k8s.pod.unready", `pod ${name} not Ready`, { pod: name, node: now.node });
    }
    snapshot();
  };

  const onNode = (n: V1Node, deleted: boolean): void => {
    const name = n.metadata?.name ?? "?";
    const before = nodes.get(name);
    const now: NodeView = { ready: isReady(n), schedulable: n.spec?.unschedulable !== true, gpus: Number(n.status?.allocatable?.[GPU] ?? 0) };
    if (deleted) nodes.delete(name);
    else nodes.set(name, now);
    if (started && before !== undefined) {
      if (before.ready && !now.ready) event("k8s.node.not-ready", `node ${name} NotReady`, { node: name });
      if (!before.ready && now.ready) event("k8s.node.ready", `node ${name} Ready`, { node: name });
      if (before.schedulable && !now.schedulable) event("k8s.node.cordoned", `node ${name} cordoned`, { node: name });
      if (!before.schedulable && now.schedulable) event("k8s.node.uncordoned", `node ${name} uncordoned`, { node: name });
    }
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
