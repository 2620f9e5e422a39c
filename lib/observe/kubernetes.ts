import { makeInformer } from "@kubernetes/client-node";
import type { Informer, KubernetesObject, V1Node, V1Pod } from "@kubernetes/client-node";
import { GPU, follow, isReady, kube, selectorString } from "../clients/kubernetes.ts";
import type { Target } from "../schema/target.ts";
import type { EventSink, Observer } from "./observer.ts";

type K8sSection = NonNullable<Target["kubernetes"]>;
const ARGO = { group: "argoproj.io", version: "v1alpha1" } as const;

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

/** An Argo Rollout as the timeline cares about it. */
export interface RolloutView {
  name: string;
  phase: string | undefined;
  message: string | undefined;
  step: number | undefined;
  steps: { setWeight?: number; analysis?: unknown; pause?: unknown }[];
  stableRS: string | undefined;
  canaryRS: string | undefined;
  aborted: boolean;
  /** the template's MODEL_VERSION: the version being rolled out */
  version: string | undefined;
}

interface RolloutObject extends KubernetesObject {
  spec?: { strategy?: { canary?: { steps?: RolloutView["steps"] } }; template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } };
  status?: { phase?: string; message?: string; currentStepIndex?: number; stableRS?: string; currentPodHash?: string; abort?: boolean };
}

export function rolloutView(r: RolloutObject): RolloutView {
  const st = r.status ?? {};
  return {
    name: `${r.metadata?.namespace}/${r.metadata?.name}`,
    phase: st.phase,
    message: st.message,
    step: st.currentStepIndex,
    steps: r.spec?.strategy?.canary?.steps ?? [],
    stableRS: st.stableRS,
    canaryRS: st.currentPodHash,
    aborted: st.abort === true,
    version: r.spec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === "MODEL_VERSION")?.value,
  };
}

/** The canary's weight at a step: the last setWeight at or before it (Argo's rule); 100 past the last step. */
export function canaryWeight(v: Pick<RolloutView, "step" | "steps" | "aborted">): number {
  if (v.aborted) return 0;
  if (v.step === undefined || v.step >= v.steps.length) return 100;
  for (let i = v.step; i >= 0; i--) {
    const w = v.steps[i]?.setWeight;
    if (w !== undefined) return w;
  }
  return 0;
}

/**
 * What changed for one Rollout, as timeline events: its steps, an abort (Argo's roll-back to the
 * stable ReplicaSet: `rollout.rolled-back`, which the rollback judge reads), a new stable ReplicaSet
 * (`rollout.promoted`), its phase.
 */
export function rolloutChanges(before: RolloutView | undefined, now: RolloutView): [string, string][] {
  const out: [string, string][] = [];
  if (before === undefined) return out;
  if (now.step !== before.step && now.step !== undefined && now.step < now.steps.length && !now.aborted) {
    const st = now.steps[now.step];
    const what = st?.setWeight !== undefined ? `set weight ${st.setWeight}%` : st?.analysis !== undefined ? "analysis" : st?.pause !== undefined ? "pause" : "step";
    out.push(["rollout.step", `${now.name}: step ${now.step + 1} of ${now.steps.length} (${what}), ${now.version ?? "the canary"} at ${canaryWeight(now)}%`]);
  }
  if (now.aborted && !before.aborted) out.push(["rollout.rolled-back", `${now.name}: aborted, back to its stable ReplicaSet ${now.stableRS ?? "?"}${now.message ? ` (${now.message})` : ""}`]);
  if (now.stableRS !== undefined && before.stableRS !== undefined && now.stableRS !== before.stableRS && !now.aborted) {
    out.push(["rollout.promoted", `${now.name}: ${now.version ?? "the new version"} promoted to 100% (ReplicaSet ${now.stableRS} is stable)`]);
  }
  if (now.phase !== before.phase && now.phase !== undefined) out.push(["rollout.phase", `${now.name}: ${now.phase}${now.message ? ` (${now.message})` : ""}`]);
  return out;
}

interface AnalysisRunObject extends KubernetesObject {
  status?: { phase?: string; metricResults?: { name: string; phase?: string; measurements?: { value?: string; phase?: string }[] }[] };
}

/** An AnalysisRun that ended, as one event: each metric's last measurement and verdict. */
function analysisEnded(before: string | undefined, a: AnalysisRunObject): [string, string, Record<string, unknown>] | undefined {
  const phase = a.status?.phase;
  if (phase === undefined || phase === before || !["Successful", "Failed", "Error", "Inconclusive"].includes(phase)) return undefined;
  const metrics = (a.status?.metricResults ?? []).map((m) => ({ metric: m.name, phase: m.phase, value: m.measurements?.at(-1)?.value }));
  const owner = a.metadata?.ownerReferences?.[0]?.name ?? "?";
  return ["rollout.analysis", `${a.metadata?.namespace}/${owner}: analysis ${phase}: ${metrics.map((m) => `${m.metric} ${m.value ?? "n/a"} (${m.phase ?? "?"})`).join(", ")}`, { analysisRun: a.metadata?.name, phase, metrics }];
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
  const rollouts = new Map<string, RolloutView>();
  const onRollout = (r: RolloutObject, deleted: boolean): void => {
    const now = rolloutView(r);
    const before = rollouts.get(now.name);
    if (deleted) rollouts.delete(now.name);
    else rollouts.set(now.name, now);
    if (started && !deleted) for (const [type, message] of rolloutChanges(before, now)) event(type, message, { rollout: now.name, phase: now.phase, step: now.step, weight: canaryWeight(now), stableRS: now.stableRS, canaryRS: now.canaryRS, version: now.version });
  };
  const analyses = new Map<string, string | undefined>();
  const onAnalysis = (a: AnalysisRunObject, deleted: boolean): void => {
    const key = `${a.metadata?.namespace}/${a.metadata?.name}`;
    const ended = started && !deleted ? analysisEnded(analyses.get(key), a) : undefined;
    if (deleted) analyses.delete(key);
    else analyses.set(key, a.status?.phase);
    if (ended) event(...ended);
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
      // Argo Rollouts, where its CRDs are installed: steps, aborts (roll-backs), promotions, analyses
      for (const ns of s.namespaces) {
        const has = await k.custom.listNamespacedCustomObject({ ...ARGO, plural: "rollouts", namespace: ns }).then(
          () => true,
          () => false,
        );
        if (!has) continue;
        const list = (plural: string) => async () => {
          // the informer wants a typed list; a custom object list has the same shape
          const body = (await k.custom.listNamespacedCustomObject({ ...ARGO, plural, namespace: ns })) as { items: KubernetesObject[]; metadata?: object };
          return body as never;
        };
        watch("rollouts", makeInformer<RolloutObject>(k.kc, `/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts`, list("rollouts")), onRollout);
        watch("analysisruns", makeInformer<AnalysisRunObject>(k.kc, `/apis/argoproj.io/v1alpha1/namespaces/${ns}/analysisruns`, list("analysisruns")), onAnalysis);
      }
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
