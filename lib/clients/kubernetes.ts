import { AppsV1Api, CoreV1Api, CustomObjectsApi, Exec, KubeConfig } from "@kubernetes/client-node";
import type { Informer, KubernetesObject } from "@kubernetes/client-node";
import { Writable } from "node:stream";
import { FaultlineError, errorMessage } from "../errors.ts";

/** Well-known label and resource names that faults, observers and the local fleet share. */
export const REGION_LABEL = "topology.kubernetes.io/region";
export const ZONE_LABEL = "topology.kubernetes.io/zone";
export const APP_LABEL = "app.kubernetes.io/name";
export const GPU = "nvidia.com/gpu";
/** kwok manages the nodes annotated with this key (value "fake"). */
export const KWOK_ANNOTATION_KEY = "kwok.x-k8s.io/node";

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  server: string;
}

/** A client for the kubeconfig's context (default: its current one). */
export function kube(kubeconfig: string, context?: string): Kube {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfig);
  } catch (cause) {
    throw new FaultlineError("E_TARGET", `cannot read kubeconfig ${kubeconfig}: ${errorMessage(cause)}`, { cause });
  }
  if (context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === context)) {
      throw new FaultlineError("E_TARGET", `kubeconfig ${kubeconfig} has no context "${context}" (has: ${kc.getContexts().map((c) => c.name).join(", ")})`);
    }
    kc.setCurrentContext(context);
  }
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi), server: kc.getCurrentCluster()?.server ?? "?" };
}

/** The HTTP status of a failed client call, if it has one (the client throws ApiException). */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/** Runs `fn`, turning 404 into `undefined`. */
export async function orNotFound<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

function safeJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v)?.slice(0, 500);
  } catch {
    return undefined; // circular
  }
}

/** A driver error that says which call failed and what the API server said. */
export function apiError(what: string, err: unknown): FaultlineError {
  const body = (err as { body?: unknown }).body;
  // the exec websocket rejects with plain objects (an ErrorEvent, a Status): say what they hold
  const message = (err as { message?: unknown }).message;
  let detail = err instanceof Error ? errorMessage(err) : typeof message === "string" ? message : safeJson(err) ?? errorMessage(err);
  if (typeof body === "string") {
    try {
      detail = (JSON.parse(body) as { message?: string }).message ?? detail;
    } catch {
      // not JSON: keep the error's own message
    }
  }
  return new FaultlineError("E_DRIVER", `kubernetes: ${what}: ${detail}`, { cause: err });
}

export const selectorString = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** A node's or pod's Ready condition is True. */
export function isReady(o: { status?: { conditions?: { type: string; status: string }[] } }): boolean {
  return o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}

/** The pod condition the local cluster's pod bridge writes with Ready: kwok's own first Ready (before any probe) lacks it. */
export const SERVING_CONDITION = "faultline.dev/ReplicaServing";

/** Ready as the bridge's readiness probe last said: the replica behind the pod serves. */
export function isServing(p: { status?: { conditions?: { type: string; status: string }[] } }): boolean {
  return isReady(p) && p.status?.conditions?.some((c) => c.type === SERVING_CONDITION && c.status === "True") === true;
}

/**
 * Feeds an informer's adds, updates and deletes into `on(object, gone)`. A watch that breaks is
 * reported to `onError` and restarted a second later, unless `stopped()` says the owner is done.
 */
export function follow<T extends KubernetesObject>(inf: Informer<T>, on: (o: T, gone: boolean) => void, stopped: () => boolean, onError: (err: unknown) => void = () => undefined): Informer<T> {
  inf.on("add", (o) => on(o, false));
  inf.on("update", (o) => on(o, false));
  inf.on("delete", (o) => on(o, true));
  inf.on("error", (err: unknown) => {
    if (stopped()) return;
    onError(err);
    setTimeout(() => void inf.start().catch(() => undefined), 1000).unref();
  });
  return inf;
}

export interface ExecResult {
  /** the command's exit code (0 on success); undefined when the API server gave no status */
  code: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` in a pod's container through the API server's exec subresource (the kubelet runs
 * it; on the local control plane kwok's ClusterExec runs it on this machine). A non-zero exit is a
 * result, not an error: a command that makes a process run out of memory may well fail itself.
 */
export async function execIn(k: Kube, namespace: string, pod: string, container: string, command: string[], timeoutMs = 30_000): Promise<ExecResult> {
  const out = { stdout: "", stderr: "" };
  const sink = (key: "stdout" | "stderr"): Writable =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        if (out[key].length < 64_000) out[key] += chunk.toString();
        done();
      },
    });
  return new Promise<ExecResult>((resolve, reject) => {
    let status: { status?: string; details?: { causes?: { reason?: string; message?: string }[] }; message?: string } | undefined;
    const timer = setTimeout(() => reject(new FaultlineError("E_DRIVER", `kubernetes: exec in ${namespace}/${pod}: no end after ${timeoutMs}ms`)), timeoutMs);
    new Exec(k.kc)
      .exec(namespace, pod, container, command, sink("stdout"), sink("stderr"), null, false, (s) => (status = s))
      .then((ws) => {
        ws.on("close", () => {
          clearTimeout(timer);
          const exit = status?.details?.causes?.find((c) => c.reason === "ExitCode")?.message;
          resolve({ code: status?.status === "Success" ? 0 : exit !== undefined ? Number(exit) : undefined, ...out });
        });
        ws.on("error", (err: Error) => {
          clearTimeout(timer);
          reject(apiError(`exec in ${namespace}/${pod}`, err));
        });
      })
      .catch((err: unknown) => {
        clearTimeout(timer);
        reject(apiError(`exec in ${namespace}/${pod}`, err));
      });
  });
}
