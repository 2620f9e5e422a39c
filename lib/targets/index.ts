import { dirname, isAbsolute, join, resolve } from "node:path";
import { DEFAULT_CLUSTER_DIR, clusterRunning } from "../k8s/cluster.ts";
import { FaultlineError } from "../errors.ts";
import { loadOne } from "../loader/documents.ts";
import { localStackDir, startLocalTarget } from "./local.ts";
import type { StartedTarget } from "./local.ts";
import type { UndoRecord } from "../faults/types.ts";

export type { StartedTarget };
export { localStackDir };
export { localStackDriver } from "./local.ts";

/** The targets faultline starts itself, by name; any other reference is a target file. */
export const BUILTIN_TARGETS = ["local", "testcontainers", "kubernetes"] as const;

export function isBuiltinTarget(ref: string): boolean {
  return (BUILTIN_TARGETS as readonly string[]).includes(ref);
}

/** A target as written inside a file (an experiment's or a game day's `target:`): a built-in name, or a path relative to that file. */
export function resolveTargetRef(ref: string, baseDir: string): string {
  return isBuiltinTarget(ref) || isAbsolute(ref) ? ref : join(baseDir, ref);
}

export interface TargetRequest {
  /** a built-in target's name, or a target file */
  ref: string;
  runDir: string;
  runId: string;
  webhookUrl?: string;
  stackSets?: string[];
  stackConfig?: string;
}

/**
 * What undoes starting this target (stopping the stack, removing the containers), for the journal:
 * written before the target starts, so that `recover` finds what a killed run left. A target file
 * starts nothing.
 */
export function targetUndo(r: Pick<TargetRequest, "ref" | "runDir" | "runId">): UndoRecord | undefined {
  if (r.ref === "local" || r.ref === "kubernetes") return { driver: "local-stack", dir: localStackDir(r.runDir) };
  if (r.ref === "testcontainers") return { driver: "testcontainers", run: r.runId };
  return undefined;
}

/**
 * Resolves a target reference into endpoints. `local` starts the reference stack for the run,
 * `testcontainers` the same in containers, `kubernetes` its gateway in front of the local cluster's
 * pods (FAULTLINE_K8S_DIR, default .faultline/k8s); a file is read as it is. Either way, what the experiment names (endpoints, proxies by label,
 * replicas) comes from the Target document.
 */
export async function startTarget(r: TargetRequest): Promise<StartedTarget> {
  const stackOptions = { dir: localStackDir(r.runDir), sets: r.stackSets ?? [], ...(r.stackConfig ? { configFile: r.stackConfig } : {}), ...(r.webhookUrl ? { webhookUrl: r.webhookUrl } : {}) };
  if (r.ref === "local") return startLocalTarget(stackOptions);
  if (r.ref === "testcontainers") {
    // loaded only here: testcontainers and dockerode are not needed by any other target
    const { startTestcontainersTarget } = await import("./testcontainers.ts");
    return startTestcontainersTarget({ ...stackOptions, runId: r.runId });
  }
  if (r.ref === "kubernetes") {
    const clusterDir = process.env.FAULTLINE_K8S_DIR ?? DEFAULT_CLUSTER_DIR;
    if (!clusterRunning(clusterDir)) throw new FaultlineError("E_TARGET", `--target kubernetes needs the local control plane in ${clusterDir}: run \`make k8s-up\` (or \`faultline k8s up\`) first`);
    const { startKubernetesTarget } = await import("./kubernetes.ts");
    return startKubernetesTarget({ ...stackOptions, clusterDir });
  }
  if ((r.stackSets ?? []).length > 0) {
    throw new FaultlineError("E_INVALID_INPUT", `--stack-set only applies to --target local, testcontainers or kubernetes (the target is ${r.ref})`);
  }
  const target = await loadOne(r.ref, "Target");
  if (target.kubernetes && !isAbsolute(target.kubernetes.kubeconfig)) {
    target.kubernetes.kubeconfig = resolve(dirname(r.ref), target.kubernetes.kubeconfig);
  }
  const control = target.stack?.control;
  if (control !== undefined && r.webhookUrl !== undefined) {
    // A stack that speaks the control API sends its alert notifications to this run.
    await fetch(`${control}/alerting/webhook`, { method: "POST", body: JSON.stringify({ url: r.webhookUrl }), signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  }
  return { target, targetFile: r.ref, stop: async () => undefined };
}
