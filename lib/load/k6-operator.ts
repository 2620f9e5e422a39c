import { randomBytes } from "node:crypto";
import { FaultlineError, errorMessage } from "../errors.ts";
import { apiError, orNotFound } from "../clients/kubernetes.ts";
import type { Kube } from "../clients/kubernetes.ts";
import { K6_BUCKET_MS, k6Script, readBack } from "./k6.ts";
import { SERIES_VERSION } from "../schema/series.ts";
import type { LoadSeries } from "../schema/series.ts";
import type { LoadEngine, LoadRun, ResolvedLoad } from "./types.ts";

export const TESTRUN = { group: "k6.io", version: "v1alpha1", plural: "testruns" } as const;

export interface DistributedOptions {
  kube: Kube;
  namespace: string;
  parallelism: number;
  /** Prometheus that faultline reads the results from */
  prometheus: string;
  /** where the runners push (must be reachable from the cluster; default: prometheus + /api/v1/write) */
  remoteWrite?: string;
  runnerImage?: string;
  /** every stage change of the TestRun (initialization … finished / error) */
  onStage?: (stage: string, message: string) => void;
  pollMs?: number;
  /** how long past the profile's own length the TestRun may take to finish */
  graceMs?: number;
}

interface TestRunObject {
  metadata?: { name?: string };
  status?: { stage?: string; testRunId?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** The ConfigMap and TestRun that run `script` on `parallelism` runner pods. */
export function testRunObjects(name: string, o: Pick<DistributedOptions, "namespace" | "parallelism" | "prometheus" | "remoteWrite" | "runnerImage">, script: string): { configMap: Record<string, unknown>; testRun: Record<string, unknown> } {
  const labels = { "app.kubernetes.io/managed-by": "faultline", "faultline.dev/load": name };
  const env = [
    { name: "K6_PROMETHEUS_RW_SERVER_URL", value: o.remoteWrite ?? `${o.prometheus.replace(/\/$/, "")}/api/v1/write` },
    { name: "K6_PROMETHEUS_RW_PUSH_INTERVAL", value: "1s" },
    { name: "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM", value: "true" },
    { name: "K6_NO_USAGE_REPORT", value: "true" },
  ];
  return {
    configMap: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${name}-script`, namespace: o.namespace, labels }, data: { "load.js": script } },
    testRun: {
      apiVersion: `${TESTRUN.group}/${TESTRUN.version}`,
      kind: "TestRun",
      metadata: { name, namespace: o.namespace, labels },
      spec: {
        parallelism: o.parallelism,
        // each runner takes 1/parallelism of the arrival rate (k6's execution segments)
        script: { configMap: { name: `${name}-script`, file: "load.js" } },
        arguments: `--out experimental-prometheus-rw --tag faultline_load=${name}`,
        separate: false,
        runner: { ...(o.runnerImage ? { image: o.runnerImage } : {}), env, metadata: { labels } },
      },
    },
  };
}

/**
 * The k6 engine, distributed through the k6-operator: the script goes into a ConfigMap, a TestRun
 * with `parallelism` runners runs it, faultline watches the TestRun's stage until it is finished
 * (or error), reads the results back from the Prometheus the runners push to, and deletes both
 * objects. Stopping it early deletes the TestRun, which stops the runners.
 */
export class K6OperatorLoadEngine implements LoadEngine {
  readonly name = "k6-operator";
  private readonly o: DistributedOptions;

  constructor(o: DistributedOptions) {
    this.o = o;
  }

  async start(load: ResolvedLoad): Promise<LoadRun> {
    const { kube: k, namespace } = this.o;
    const name = `faultline-load-${randomBytes(3).toString("hex")}`;
    const { configMap, testRun } = testRunObjects(name, this.o, k6Script(load));
    await k.core.createNamespacedConfigMap({ namespace, body: configMap }).catch((err: unknown) => {
      throw apiError(`create ConfigMap ${namespace}/${name}-script`, err);
    });
    try {
      await k.custom.createNamespacedCustomObject({ ...TESTRUN, namespace, body: testRun });
    } catch (err) {
      await k.core.deleteNamespacedConfigMap({ name: `${name}-script`, namespace }).catch(() => undefined);
      const status = (err as { code?: number }).code;
      throw status === 404 ? new FaultlineError("E_TARGET", `the cluster has no TestRun kind (k6.io/v1alpha1): install the k6-operator first`, { cause: err }) : apiError(`create TestRun ${namespace}/${name}`, err);
    }
    const start = Date.now();
    const series: LoadSeries = { version: SERIES_VERSION, engine: "k6-operator", bucketMs: K6_BUCKET_MS, start, targetRate: load.rate, buckets: [] };
    let stopped = false;
    const deadline = start + load.durationMs + (this.o.graceMs ?? 120_000);
    const cleanup = async (): Promise<void> => {
      await k.custom.deleteNamespacedCustomObject({ ...TESTRUN, namespace, name }).catch(() => undefined);
      await k.core.deleteNamespacedConfigMap({ name: `${name}-script`, namespace }).catch(() => undefined);
    };
    const done = (async (): Promise<LoadSeries> => {
      try {
        let stage = "";
        for (;;) {
          if (stopped) break;
          const tr = (await orNotFound(() => k.custom.getNamespacedCustomObject({ ...TESTRUN, namespace, name }))) as TestRunObject | undefined;
          if (tr === undefined) throw new FaultlineError("E_DRIVER", `TestRun ${namespace}/${name} vanished before it finished`);
          const now = tr.status?.stage ?? "";
          if (now !== stage) {
            stage = now;
            this.o.onStage?.(stage, `TestRun ${name} ${stage}${tr.status?.testRunId ? ` (${tr.status.testRunId})` : ""}`);
          }
          if (stage === "finished") break;
          if (stage === "error") {
            const why = (tr.status?.conditions ?? []).map((c) => `${c.type}=${c.status}${c.message ? `: ${c.message}` : ""}`).join("; ");
            throw new FaultlineError("E_TOOL", `k6-operator TestRun ${name} ended in error${why ? `: ${why}` : ""}`);
          }
          if (Date.now() > deadline) throw new FaultlineError("E_TIMEOUT", `TestRun ${namespace}/${name} still "${stage || "pending"}" ${((Date.now() - start) / 1000).toFixed(0)}s after it was created (is the k6-operator running?)`);
          await new Promise((r) => setTimeout(r, this.o.pollMs ?? 1000));
        }
        await new Promise((r) => setTimeout(r, 1500)); // the runners' last remote-write push
        try {
          series.buckets = await readBack(this.o.prometheus, start, Date.now(), { faultline_load: name });
        } catch (err) {
          throw new FaultlineError("E_TOOL", `reading the distributed load's results from ${this.o.prometheus}: ${errorMessage(err)}`, { cause: err });
        }
        return series;
      } finally {
        await cleanup();
      }
    })();
    return {
      series,
      done,
      stop: async () => {
        stopped = true;
        await k.custom.deleteNamespacedCustomObject({ ...TESTRUN, namespace, name }).catch(() => undefined);
        return done;
      },
    };
  }
}
