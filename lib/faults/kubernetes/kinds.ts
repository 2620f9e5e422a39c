import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { V1Deployment, V1Node, V1Pod, V1PodTemplateSpec } from "@kubernetes/client-node";
import { retryUntil } from "../../clock.ts";
import { FaultlineError } from "../../errors.ts";
import { KWOK_ANNOTATION_KEY, REGION_LABEL, ZONE_LABEL, apiError, execIn, isReady, kube, orNotFound } from "../../clients/kubernetes.ts";
import type { ExecResult, Kube } from "../../clients/kubernetes.ts";
import type { Fault, Selector } from "../../schema/experiment.ts";
import type { Target } from "../../schema/target.ts";
import { startGpuRamp, stopGpuRamp } from "../gpu-ramp.ts";
import type { GpuState } from "../gpu-ramp.ts";
import { select } from "../select.ts";
import type { Action, Driver, FaultKindHandler, FaultPlan, PlanContext, UndoRecord } from "../types.ts";

type KindOf<K extends Fault["kind"]> = Extract<Fault, { kind: K }>;
type K8sSection = NonNullable<Target["kubernetes"]>;

/** kwok's own chaos stage: a node carrying this label reports Ready=False until it is removed. */
export const NOT_READY_LABEL = "node-not-ready.stage.kwok.x-k8s.io";
const MERGE = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const JSON_PATCH = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/** Experiments say `region` and `zone`; Kubernetes says topology.kubernetes.io/…. Both work. */
const SHORT: Record<string, string> = { region: REGION_LABEL, zone: ZONE_LABEL };
function withShortLabels(labels: Record<string, string> | undefined): Record<string, string> {
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

export function k8sOf(ctx: PlanContext, kind: string): { s: K8sSection; k: Kube; ref: { kubeconfig: string; context?: string } } {
  const s = ctx.target.kubernetes;
  if (s === undefined) throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${kind}) needs a kubernetes section in target ${ctx.target.metadata.name}`);
  return { s, k: client(s.kubeconfig, s.context), ref: { kubeconfig: s.kubeconfig, ...(s.context ? { context: s.context } : {}) } };
}

/** The blast-radius guard: refuses a fault that would hit more than maxFraction of what matched its kind. */
function guardFraction(chosen: number, of: number, s: K8sSection, what: string, faultName: string): void {
  if (of > 0 && chosen / of > s.maxFraction + 1e-9) {
    throw new FaultlineError(
      "E_TARGET",
      `fault ${faultName} would hit ${chosen} of ${of} ${what} (${Math.round((chosen / of) * 100)}%), over the target's blast radius of ${Math.round(s.maxFraction * 100)}% (kubernetes.maxFraction)`,
    );
  }
}

async function listNodes(k: Kube): Promise<V1Node[]> {
  try {
    return (await k.core.listNode({})).items;
  } catch (err) {
    throw apiError("list nodes", err);
  }
}

function nodeItems(nodes: V1Node[]): { name: string; labels: Record<string, string>; node: V1Node }[] {
  return nodes.map((n) => ({ name: n.metadata?.name ?? "?", labels: withShortLabels(n.metadata?.labels), node: n }));
}

/** Nodes lost: kwok nodes report NotReady (mode not-ready); any node can be cordoned and drained (mode drain). */
function planNodes(f: { selector: Selector }, mode: "not-ready" | "drain", ctx: PlanContext, kind: string): Promise<FaultPlan> {
  return (async () => {
    const { s, k, ref } = k8sOf(ctx, kind);
    const all = nodeItems(await listNodes(k));
    const chosen = select(all, f.selector, "node");
    guardFraction(chosen.length, all.length, s, "nodes", ctx.faultName);
    const actions: Action[] = chosen.map(({ name, node }) => {
      if (mode === "not-ready") {
        if (node.metadata?.annotations?.[KWOK_ANNOTATION_KEY] === undefined) {
          throw new FaultlineError("E_TARGET", `node ${name} is not simulated by kwok: mode not-ready cannot stop a real kubelet; use params.mode: drain`);
        }
        return {
          description: `node ${name} stops reporting Ready`,
          undo: { driver: "kubernetes", op: "node-ready", ...ref, node: name, addresses: node.status?.addresses ?? [] },
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
        undo: { driver: "kubernetes", op: "uncordon", ...ref, node: name, wasUnschedulable: node.spec?.unschedulable === true },
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
  })();
}

async function proveNode(k: Kube, name: string, ok: (n: V1Node) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  await retryUntil(
    () => k.core.readNode({ name }),
    ok,
    ({ elapsedMs }) => new FaultlineError("E_DRIVER", `kubernetes: node ${name} not ${what} ${elapsedMs}ms after the fault`),
    { timeoutMs, intervalMs: 200 },
  );
}

const nodeLoss: FaultKindHandler<KindOf<"node-loss">> = {
  kind: "node-loss",
  appliesTo: (t) => t.kubernetes !== undefined,
  plan: (f, ctx) => planNodes(f, f.params.mode, ctx, f.kind),
};

const zoneOutage: FaultKindHandler<KindOf<"zone-outage">> = {
  kind: "zone-outage",
  appliesTo: (t) => t.kubernetes !== undefined,
  plan: (f, ctx) => {
    if (f.selector.matchLabels?.zone === undefined && f.selector.matchLabels?.[ZONE_LABEL] === undefined) {
      throw new FaultlineError("E_INVALID_INPUT", `fault ${ctx.faultName} (zone-outage): the selector must name the zone (matchLabels: { zone: … })`);
    }
    return planNodes(f, f.params.mode, ctx, f.kind);
  },
};

const regionOutage: FaultKindHandler<KindOf<"region-outage">> = {
  kind: "region-outage",
  appliesTo: (t) => t.kubernetes !== undefined && t.toxiproxy === undefined,
  plan: (f, ctx) => planNodes(f, "not-ready", ctx, f.kind),
};

function podLabels(p: V1Pod): Record<string, string> {
  return withShortLabels(p.metadata?.labels);
}

/** The blast radius for pods: the chosen ones against the workload's pods in the namespace (at least the chosen). */
function guardPods(chosen: number, items: readonly { labels: Record<string, string> }[], s: K8sSection, faultName: string): void {
  const peers = items.filter((it) => Object.entries(s.workload).every(([key, v]) => it.labels[key] === v)).length;
  guardFraction(chosen, Math.max(peers, chosen), s, "pods", faultName);
}

/** The namespace `who` (a fault, the distributed load) wants (default: the target's first), refused unless the target allows it. */
export function allowedNamespace(s: K8sSection, wanted: string | undefined, who: string): string {
  const namespace = wanted ?? (s.namespaces[0] as string);
  if (!s.namespaces.includes(namespace)) {
    throw new FaultlineError("E_TARGET", `${who}: namespace ${namespace} is not in the target's allow-list (${s.namespaces.join(", ")})`);
  }
  return namespace;
}

/** The namespace's pods that are not already going away, with short topology labels added. */
async function livePods(k: Kube, namespace: string): Promise<{ name: string; labels: Record<string, string>; ip: string | undefined; container: string | undefined }[]> {
  const list = await k.core.listNamespacedPod({ namespace }).catch((err: unknown) => {
    throw apiError(`list pods in ${namespace}`, err);
  });
  return list.items
    .filter((p) => p.metadata?.deletionTimestamp === undefined)
    .map((p) => ({ name: p.metadata?.name ?? "?", labels: podLabels(p), ip: p.status?.podIP, container: p.spec?.containers[0]?.name }));
}

const podKill: FaultKindHandler<KindOf<"pod-kill">> = {
  kind: "pod-kill",
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
        // nothing to put back: the pod's controller makes a new one, which `rescheduled` judges
        undo: { driver: "kubernetes", op: "none", ...ref, pod: `${namespace}/${c.name}` },
        apply: async () => {
          await k.core.deleteNamespacedPod({ name: c.name, namespace, gracePeriodSeconds: f.params.gracePeriodSeconds }).catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404) throw apiError(`delete pod ${namespace}/${c.name}`, err);
          });
        },
      })),
    };
  },
};

/** The simulated replica's admin calls (lib/stack/replica.ts), from inside its pod; --fail: a 507 (out of memory) exits 22. */
const REPLICA_PRESSURE = (mib: number | string): string[] => ["curl", "-sS", "--fail", "-X", "POST", "-H", "content-type: application/json", "--data", `{"setMiB": ${mib}}`, "http://${podIP}:8000/admin/gpu-pressure"];
const REPLICA_STATE = ["curl", "-sS", "--fail", "http://${podIP}:8000/admin/state"];
const DEFAULT_OOM_REVERT = REPLICA_PRESSURE(0);

const fill = (command: readonly string[], vars: Record<string, string>): string[] => command.map((a) => a.replace(/\$\{(pod|podIP|namespace)\}/g, (_, k: string) => vars[k] ?? ""));

/** Experiments may name replicas logically (us-east-1); the target maps those names to pods. */
function podSelector(sel: Selector, s: K8sSection): Selector {
  return sel.names === undefined ? sel : { ...sel, names: sel.names.map((n) => s.names[n] ?? n) };
}

/**
 * GPU OOM inside the chosen pods, by exec through the API server. With `params.command` that command
 * runs once (a CUDA allocation on a real GPU node). Without, the simulated replica's memory is ramped
 * as on the stack — `steps` pressure calls `stepEvery` apart up to `rampTo` % — each call an exec in
 * the pod, so the warning alert has its chance before the OOM.
 */
const gpuOomExec: FaultKindHandler<KindOf<"gpu-oom">> = {
  kind: "gpu-oom",
  appliesTo: (t) => t.kubernetes !== undefined && t.stack === undefined,
  plan: async (f, ctx) => {
    const { s, k, ref } = k8sOf(ctx, f.kind);
    const namespace = allowedNamespace(s, f.params.namespace, `fault ${ctx.faultName}`);
    const items = (await livePods(k, namespace)).filter((p) => p.ip !== undefined);
    const sel = podSelector(f.selector, s);
    const chosen = select(items, { ...sel, count: sel.count ?? (sel.percent === undefined ? 1 : undefined) }, "pod");
    guardPods(chosen.length, items, s, ctx.faultName);
    const every = Math.round(f.params.stepEvery * (ctx.timeScale ?? 1));
    return {
      targets: chosen.map((c) => `${namespace}/${c.name}`),
      actions: chosen.map((c) => {
        const vars = { pod: c.name, podIP: c.ip ?? "", namespace };
        const container = f.params.container ?? c.container ?? "";
        const key = `${ctx.runId}/${ctx.faultName}/${c.name}`;
        const run = async (command: string[]): Promise<ExecResult> => {
          const r = await execIn(k, namespace, c.name, container, fill(command, vars));
          ctx.log.debug({ pod: c.name, command: command.join(" "), code: r.code, stdout: r.stdout.slice(0, 300), stderr: r.stderr.slice(0, 300) }, "gpu-oom exec");
          return r;
        };
        const undo = { driver: "kubernetes", op: "exec", ...ref, namespace, pod: c.name, container, key, command: fill(f.params.revertCommand ?? DEFAULT_OOM_REVERT, vars) };
        if (f.params.command !== undefined) {
          const command = f.params.command;
          return { description: `exec in ${namespace}/${c.name} (${container}): ${fill(command, vars).join(" ")}`, undo, apply: async () => void (await run(command)) };
        }
        return {
          description: `exec in ${namespace}/${c.name} (${container}): drive GPU memory to ${f.params.rampTo}% in ${f.params.steps} steps every ${every}ms (${fill(REPLICA_PRESSURE("N"), vars).join(" ")})`,
          undo,
          apply: async () => {
            const st = await run(REPLICA_STATE);
            const gpu = st.code === 0 ? (JSON.parse(st.stdout) as { gpu?: GpuState }).gpu : undefined;
            if (gpu === undefined) throw new FaultlineError("E_DRIVER", `kubernetes: ${namespace}/${c.name}: the replica's /admin/state gave no gpu section (exit ${st.code}: ${st.stderr.slice(0, 200)})`);
            await startGpuRamp({ key, rampTo: f.params.rampTo, steps: f.params.steps, every, gpu, set: async (setMiB) => (await run(REPLICA_PRESSURE(setMiB))).code === 0 });
          },
        };
      }),
    };
  },
};

export const NETWORKCHAOS = { group: "chaos-mesh.org", version: "v1alpha1", plural: "networkchaos" } as const;

/** Long labels for a pod selector: `region` and `zone` mean the topology labels, as everywhere. */
function podSelectorLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).map(([k, v]) => [SHORT[k] ?? k, v]));
}

/**
 * A Chaos Mesh NetworkChaos (action partition) between the selected pods and a target. Chaos Mesh
 * does the packet work on the nodes; faultline creates the object (journaled first), proves it
 * exists, and deletes it on revert. Its `duration` is the fault's, plus a minute: should faultline
 * die and nobody run `recover`, Chaos Mesh still ends the partition by itself.
 */
const networkPartition: FaultKindHandler<KindOf<"network-partition">> = {
  kind: "network-partition",
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
          undo: { driver: "kubernetes", op: "delete-networkchaos", ...ref, namespace, name },
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

/** The parts of a pod template that a rollout changes and a rollback restores. */
function templateOf(d: V1Deployment): V1PodTemplateSpec {
  return d.spec?.template ?? {};
}

/** The template as plain JSON (the client's objects carry Dates; a pod template's keys are the API's own). */
function templateJson(t: V1PodTemplateSpec): Record<string, unknown> {
  return JSON.parse(JSON.stringify(t)) as Record<string, unknown>;
}

const planRollout = async (f: KindOf<"bad-rollout"> | KindOf<"rollout">, ctx: PlanContext): Promise<FaultPlan> => {
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
        undo: { driver: "kubernetes", op: "restore-template", ...ref, namespace: c.namespace, deployment: c.name, template: templateJson(previous) },
        apply: async () => {
          const body = { spec: { template: { metadata: { labels: { "faultline.dev/version": f.params.version } }, spec: { containers } } } };
          await k.apps
            .patchNamespacedDeployment({ name: c.name, namespace: c.namespace, body }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch))
            .catch((err: unknown) => {
              throw apiError(`patch deployment ${c.namespace}/${c.name}`, err);
            });
        },
      };
    }),
  };
};

const badRollout: FaultKindHandler<KindOf<"bad-rollout">> = { kind: "bad-rollout", appliesTo: (t) => t.kubernetes !== undefined && t.stack?.rollout === undefined, plan: planRollout };
const rollout: FaultKindHandler<KindOf<"rollout">> = { kind: "rollout", appliesTo: (t) => t.kubernetes !== undefined && t.stack?.rollout === undefined, plan: planRollout };

export const kubernetesKinds = [nodeLoss, zoneOutage, regionOutage, podKill, networkPartition, badRollout, rollout, gpuOomExec] as const;

function str(u: UndoRecord, key: string): string {
  const v = u[key];
  if (typeof v !== "string") throw new FaultlineError("E_INVALID_INPUT", `malformed kubernetes undo record (no ${key}): ${JSON.stringify(u)}`);
  return v;
}

function clientFor(u: UndoRecord): Kube {
  return client(str(u, "kubeconfig"), typeof u.context === "string" ? u.context : undefined);
}

export const kubernetesDriver: Driver = {
  name: "kubernetes",
  async revert(u) {
    if (u.op === "none") return;
    const k = clientFor(u);
    switch (u.op) {
      case "node-ready": {
        const name = str(u, "node");
        const node = await orNotFound(() => k.core.readNode({ name }));
        if (node === undefined) return; // gone: nothing left to restore
        if (node.metadata?.labels?.[NOT_READY_LABEL] !== undefined) {
          await k.core.patchNode({ name, body: { metadata: { labels: { [NOT_READY_LABEL]: null } } } }, MERGE).catch((err: unknown) => {
            throw apiError(`unlabel node ${name}`, err);
          });
        }
        // kwok's heartbeat drops a node's addresses when it reports Ready again after its not-ready
        // stage; without an InternalIP the API server cannot reach the node's "kubelet" (exec, logs)
        const addresses = Array.isArray(u.addresses) ? (u.addresses as { type: string; address: string }[]) : [];
        if (addresses.length === 0) return;
        await proveNode(k, name, isReady, "Ready again");
        await retryUntil(
          async () => {
            const now = await k.core.readNode({ name });
            if ((now.status?.addresses ?? []).length > 0) return true;
            await k.core.patchNodeStatus({ name, body: { status: { addresses } } }, MERGE);
            return false;
          },
          (ok) => ok,
          ({ elapsedMs }) => new FaultlineError("E_DRIVER", `kubernetes: node ${name} still has no addresses ${elapsedMs}ms after its revert`),
          { timeoutMs: 10_000, intervalMs: 500 },
        );
        return;
      }
      case "uncordon": {
        const name = str(u, "node");
        if (u.wasUnschedulable === true) return;
        await k.core.patchNode({ name, body: { spec: { unschedulable: null } } }, MERGE).catch((err: unknown) => {
          if ((err as { code?: number }).code !== 404) throw apiError(`uncordon node ${name}`, err);
        });
        return;
      }
      case "delete-networkchaos": {
        const name = str(u, "name");
        const namespace = str(u, "namespace");
        await k.custom.deleteNamespacedCustomObject({ ...NETWORKCHAOS, namespace, name }).catch((err: unknown) => {
          if ((err as { code?: number }).code !== 404) throw apiError(`delete NetworkChaos ${namespace}/${name}`, err);
        });
        return;
      }
      case "exec": {
        if (typeof u.key === "string") stopGpuRamp(u.key);
        // the pod may be gone, or its process restarted without the pressure: nothing to undo then
        const namespace = str(u, "namespace");
        const pod = str(u, "pod");
        if ((await orNotFound(() => k.core.readNamespacedPod({ name: pod, namespace }))) === undefined) return;
        const command = Array.isArray(u.command) ? u.command.map(String) : [];
        await execIn(k, namespace, pod, str(u, "container"), command);
        return;
      }
      case "restore-template": {
        const name = str(u, "deployment");
        const namespace = str(u, "namespace");
        await k.apps
          .patchNamespacedDeployment({ name, namespace, body: [{ op: "replace", path: "/spec/template", value: u.template }] }, JSON_PATCH)
          .catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404) throw apiError(`restore deployment ${namespace}/${name}`, err);
          });
        return;
      }
      default:
        throw new FaultlineError("E_INVALID_INPUT", `unknown kubernetes undo op ${String(u.op)}`);
    }
  },
  async isActive(u) {
    if (u.op === "none") return false;
    // an exec'd command (GPU pressure, a CUDA allocation) is in effect until reverted: the replica
    // dying of it and restarting is the system's answer, not someone removing the fault
    if (u.op === "exec") return true;
    const k = clientFor(u);
    if (u.op === "node-ready") return (await orNotFound(() => k.core.readNode({ name: str(u, "node") })))?.metadata?.labels?.[NOT_READY_LABEL] !== undefined;
    if (u.op === "uncordon") return (await orNotFound(() => k.core.readNode({ name: str(u, "node") })))?.spec?.unschedulable === true;
    if (u.op === "delete-networkchaos") return (await orNotFound(() => k.custom.getNamespacedCustomObject({ ...NETWORKCHAOS, namespace: str(u, "namespace"), name: str(u, "name") }))) !== undefined;
    if (u.op === "restore-template") {
      const d = await orNotFound(() => k.apps.readNamespacedDeployment({ name: str(u, "deployment"), namespace: str(u, "namespace") }));
      const now = d?.spec?.template ? templateJson(d.spec.template) : undefined;
      return now !== undefined && JSON.stringify((now.spec as { containers?: unknown }).containers) !== JSON.stringify((u.template as { spec?: { containers?: unknown } }).spec?.containers);
    }
    return false;
  },
};
