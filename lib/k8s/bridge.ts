import { makeInformer } from "@kubernetes/client-node";
import type { Informer, KubernetesObject, V1Node, V1Pod } from "@kubernetes/client-node";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { StackConfig } from "../stack/config.ts";
import { Child } from "../stack/child.ts";
import type { Kube } from "./client.ts";
import { follow, isReady, selectorString } from "./client.ts";
import { REGION_LABEL, ZONE_LABEL } from "./fleet.ts";

const REPLICA_MAIN = fileURLToPath(new URL("../stack/replica-main.ts", import.meta.url));
export const POD_PORT = 8000;

export interface BridgeOptions {
  namespace: string;
  labels: Record<string, string>;
  logDir: string;
  /** replica settings (model, GPU, timings); the version comes from each pod's MODEL_VERSION */
  replica?: StackConfig["replica"];
  onChange?: (line: string) => void;
}

interface Running {
  child: Child;
  ip: string;
  pod: string;
}

/**
 * Pods backed by real processes: for every running pod of the workload on a Ready node, a replica
 * process listens at the pod's IP (kwok hands out loopback addresses) on port 8000; when the pod
 * goes away, or its node stops being Ready (its kubelet is gone), the process is stopped. So
 * deleting a pod or losing a node changes real traffic, as it does on a real cluster.
 */
export class PodBridge {
  private readonly k: Kube;
  private readonly o: BridgeOptions;
  private readonly pods = new Map<string, V1Pod>();
  private readonly nodeReady = new Map<string, boolean>();
  private readonly nodeZone = new Map<string, string>();
  private readonly running = new Map<string, Running>();
  private readonly informers: Informer<KubernetesObject>[] = [];
  private readonly replica: StackConfig["replica"];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(k: Kube, o: BridgeOptions) {
    this.k = k;
    this.o = o;
    this.replica = o.replica ?? StackConfig.parse({}).replica;
  }

  async start(): Promise<void> {
    const labelSelector = selectorString(this.o.labels);
    const pods = makeInformer<V1Pod>(this.k.kc, `/api/v1/namespaces/${this.o.namespace}/pods`, () => this.k.core.listNamespacedPod({ namespace: this.o.namespace, labelSelector }), labelSelector);
    const nodes = makeInformer<V1Node>(this.k.kc, "/api/v1/nodes", () => this.k.core.listNode({}));
    const onPod = (p: V1Pod, gone: boolean): void => {
      const uid = p.metadata?.uid ?? "";
      if (gone) this.pods.delete(uid);
      else this.pods.set(uid, p);
      this.reconcile();
    };
    const onNode = (n: V1Node, gone: boolean): void => {
      const name = n.metadata?.name ?? "";
      if (gone) this.nodeReady.delete(name);
      else {
        this.nodeReady.set(name, isReady(n));
        this.nodeZone.set(name, n.metadata?.labels?.[ZONE_LABEL] ?? name);
      }
      this.reconcile();
    };
    this.informers.push(follow(pods, onPod, () => this.stopped) as unknown as Informer<KubernetesObject>, follow(nodes, onNode, () => this.stopped) as unknown as Informer<KubernetesObject>);
    await Promise.all(this.informers.map((i) => i.start()));
    // a process that could not bind yet (an IP still held by the pod before it) is retried
    this.timer = setInterval(() => this.reconcile(), 1000);
    this.reconcile();
  }

  /** What should run: running, addressed, not terminating, on a Ready node. */
  private wanted(): Map<string, { pod: V1Pod; ip: string }> {
    const out = new Map<string, { pod: V1Pod; ip: string }>();
    for (const [uid, p] of this.pods) {
      const ip = p.status?.podIP;
      const node = p.spec?.nodeName;
      if (ip === undefined || node === undefined || p.metadata?.deletionTimestamp !== undefined || p.status?.phase !== "Running") continue;
      if (this.nodeReady.get(node) !== true) continue;
      out.set(uid, { pod: p, ip });
    }
    return out;
  }

  private reconcile(): void {
    if (this.stopped) return;
    const want = this.wanted();
    for (const [uid, r] of this.running) {
      if (want.get(uid)?.ip === r.ip) continue;
      this.running.delete(uid);
      void r.child.stop(2000);
      this.o.onChange?.(`stopped ${r.pod} at ${r.ip}`);
    }
    const busy = new Set([...this.running.values()].map((r) => r.ip));
    for (const [uid, { pod, ip }] of want) {
      if (this.running.has(uid) || busy.has(ip)) continue;
      const name = pod.metadata?.name ?? uid;
      const version = pod.spec?.containers[0]?.env?.find((e) => e.name === "MODEL_VERSION")?.value ?? this.replica.version;
      const options = {
        name,
        region: pod.metadata?.labels?.[REGION_LABEL] ?? "unknown",
        zone: this.nodeZone.get(pod.spec?.nodeName ?? "") ?? "unknown",
        host: ip,
        port: POD_PORT,
        replica: { ...this.replica, version },
      };
      // restarted with a growing back-off when it dies (a GPU OOM), as the kubelet restarts a container
      const child = new Child({
        name,
        command: process.execPath,
        args: [REPLICA_MAIN],
        env: { FAULTLINE_REPLICA: JSON.stringify(options) },
        logFile: join(this.o.logDir, `pod-${name}.log`),
        restart: { baseMs: this.replica.restartBackoffMs, maxMs: this.replica.restartBackoffMaxMs },
      });
      child.start();
      this.running.set(uid, { child, ip, pod: name });
      busy.add(ip);
      this.o.onChange?.(`started ${name} (${version}) at ${ip}:${POD_PORT}`);
    }
  }

  /** pod name → address of the process serving it */
  endpoints(): Record<string, string> {
    return Object.fromEntries([...this.running.values()].map((r) => [r.pod, `http://${r.ip}:${POD_PORT}`]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all(this.informers.map((i) => i.stop().catch(() => undefined)));
    await Promise.all([...this.running.values()].map((r) => r.child.stop(2000)));
    this.running.clear();
  }
}
