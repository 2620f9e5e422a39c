import { PatchStrategy, makeInformer, setHeaderOptions } from "@kubernetes/client-node";
import type { Informer, KubernetesObject, V1Node, V1Pod } from "@kubernetes/client-node";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { join } from "node:path";
import { Counter, Registry } from "prom-client";
import { fileURLToPath } from "node:url";
import { StackConfig } from "../stack/config.ts";
import { Child } from "../proc/child.ts";
import { OOM_EXIT_CODE } from "../stack/replica.ts";
import type { Kube } from "../clients/kubernetes.ts";
import { REGION_LABEL, SERVING_CONDITION, ZONE_LABEL, follow, isReady, selectorString } from "../clients/kubernetes.ts";
import type { SessionClientConfig } from "../clients/sessions.ts";
import { errorMessage } from "../errors.ts";

const REPLICA_MAIN = fileURLToPath(new URL("../stack/replica-main.ts", import.meta.url));
export const POD_PORT = 8000;
/** A pod's session store (its client config as JSON), from its container's env: where a real Deployment names its Redis. */
export const SESSION_ENV = "FAULTLINE_SESSION";

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
  namespace: string;
  /** the Ready condition last written to the pod (undefined: not yet) */
  ready?: boolean;
}

const STRATEGIC = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
/** How often the bridge probes each replica's /readyz, as a readiness probe's periodSeconds. */
export const READINESS_PERIOD_MS = 500;

/**
 * Pods backed by real processes: for every running pod of the workload on a Ready node, a replica
 * process listens at the pod's IP (kwok hands them out of a block local to lo, lib/k8s/podnet.ts)
 * on port 8000; when the pod goes away, or its node stops being Ready (its kubelet is gone), the
 * process is stopped. So
 * deleting a pod or losing a node changes real traffic, as it does on a real cluster. It is also
 * the kubelet's readiness probe: kwok marks a pod Ready when it starts it, but a replica serves
 * only once its model is loaded, so the bridge writes the pod's Ready condition from the process's
 * /readyz (False until it answers 200, False again while it does not) — what the Deployment's
 * rollout, the EndpointSlices and so the gateway go by.
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
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = false;
  private metricsServer: Server | undefined;
  /** What the kubelet's container restarts tell kube-state-metrics, under the stack's names (its alert rules use them). */
  private readonly registry = new Registry();
  private readonly restarts = new Counter({ name: "stack_replica_restarts_total", help: "Replica process exits, by reason", labelNames: ["replica", "region", "reason"], registers: [this.registry] });
  private readonly ooms = new Counter({ name: "stack_replica_oom_kills_total", help: "Replica processes that died of GPU OOM", labelNames: ["replica", "region"], registers: [this.registry] });

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
    this.probeTimer = setInterval(() => void this.probe(), READINESS_PERIOD_MS);
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
      const env = (n: string): string | undefined => pod.spec?.containers[0]?.env?.find((e) => e.name === n)?.value;
      const version = env("MODEL_VERSION") ?? this.replica.version;
      // the session store, as a Deployment tells its pods where their Redis is (its client config, JSON)
      const session = parseSession(env(SESSION_ENV), (why) => this.o.onChange?.(`${name}: ${SESSION_ENV} ignored: ${why}`));
      const options = {
        name,
        region: pod.metadata?.labels?.[REGION_LABEL] ?? "unknown",
        zone: this.nodeZone.get(pod.spec?.nodeName ?? "") ?? "unknown",
        host: ip,
        port: POD_PORT,
        replica: { ...this.replica, version },
        ...(session !== undefined ? { session } : {}),
      };
      // restarted with a growing back-off when it dies (a GPU OOM), as the kubelet restarts a container
      const labels = { replica: name, region: options.region };
      this.ooms.inc(labels, 0);
      const child = new Child({
        onExit: (code, signal) => {
          if (this.stopped || !this.running.has(uid)) return;
          this.restarts.inc({ ...labels, reason: code === OOM_EXIT_CODE ? "oom" : signal !== null ? `signal-${signal}` : `exit-${code}` });
          if (code === OOM_EXIT_CODE) this.ooms.inc(labels);
        },
        name,
        command: process.execPath,
        args: [REPLICA_MAIN],
        env: { FAULTLINE_REPLICA: JSON.stringify(options) },
        logFile: join(this.o.logDir, `pod-${name}.log`),
        restart: { baseMs: this.replica.restartBackoffMs, maxMs: this.replica.restartBackoffMaxMs },
      });
      child.start();
      this.running.set(uid, { child, ip, pod: name, namespace: pod.metadata?.namespace ?? this.o.namespace });
      busy.add(ip);
      this.o.onChange?.(`started ${name} (${version}) at ${ip}:${POD_PORT}`);
    }
  }

  /** One readiness probe per running replica; a change is written to its pod's Ready condition. */
  private async probe(): Promise<void> {
    if (this.probing) return; // a slow round (many replicas) is not overlapped by the next
    this.probing = true;
    await Promise.all(
      [...this.running.values()].map(async (r) => {
        let ok = false;
        try {
          const res = await fetch(`http://${r.ip}:${POD_PORT}/readyz`, { signal: AbortSignal.timeout(READINESS_PERIOD_MS - 100) });
          await res.arrayBuffer();
          ok = res.ok;
        } catch {
          // not listening yet, or gone: not ready
        }
        if (r.ready === ok || this.stopped) return;
        const status = ok ? "True" : "False";
        const now = new Date();
        const conditions = ["Ready", "ContainersReady", SERVING_CONDITION].map((type) => ({ type, status, lastTransitionTime: now, ...(ok ? {} : { reason: "ReadinessProbeFailed" }) }));
        try {
          await this.k.core.patchNamespacedPodStatus({ name: r.pod, namespace: r.namespace, body: { status: { conditions } } }, STRATEGIC);
          r.ready = ok;
          this.o.onChange?.(`${r.pod} ${ok ? "ready" : "not ready"} (readiness probe)`);
        } catch {
          // the pod is going away: the next reconcile stops its process
        }
      }),
    ).finally(() => (this.probing = false));
  }

  /** pod name → address of the process serving it */
  endpoints(): Record<string, string> {
    return Object.fromEntries([...this.running.values()].map((r) => [r.pod, `http://${r.ip}:${POD_PORT}`]));
  }

  /** Serves the bridge's metrics (restarts, GPU OOM kills) for Prometheus at 127.0.0.1:port. */
  async serveMetrics(port: number): Promise<void> {
    this.metricsServer = createServer((req, res) => {
      void this.registry.metrics().then((body) => {
        res.writeHead(200, { "content-type": this.registry.contentType });
        res.end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.metricsServer?.once("error", reject);
      this.metricsServer?.listen(port, "127.0.0.1", () => resolve());
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.metricsServer?.close();
    clearInterval(this.timer);
    clearInterval(this.probeTimer);
    await Promise.all(this.informers.map((i) => i.stop().catch(() => undefined)));
    await Promise.all([...this.running.values()].map((r) => r.child.stop(2000)));
    this.running.clear();
  }
}

/** The session client config a pod's env gives, or undefined (said why) when it is not one. */
function parseSession(text: string | undefined, warn: (why: string) => void): SessionClientConfig | undefined {
  if (text === undefined) return undefined;
  try {
    const c = JSON.parse(text) as Partial<SessionClientConfig>;
    if (typeof c.master !== "string" || !Array.isArray(c.sentinels) || c.sentinels.length === 0) throw new Error("expected {master, sentinels: [{host, port}], …}");
    return { natMap: {}, waitReplicas: 1, waitTimeoutMs: 1000, commandTimeoutMs: 1000, ...c } as SessionClientConfig;
  } catch (err) {
    warn(errorMessage(err));
    return undefined;
  }
}
