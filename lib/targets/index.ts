import { dirname, isAbsolute, join, resolve } from "node:path";
import { FaultlineError } from "../errors.ts";
import type { Backend, UndoRecord } from "../faults/types.ts";
import { DEFAULT_CLUSTER_DIR, clusterRunning } from "../k8s/cluster.ts";
import { loadOne } from "../loader/documents.ts";
import { pgidsIn } from "../proc/group.ts";
import { didYouMean } from "../schema/strict.ts";
import type { Target } from "../schema/target.ts";
import { localStackBackend, localStackDir, startLocalTarget } from "./local.ts";
import type { StartedTarget } from "./local.ts";
import { testcontainersBackend } from "./testcontainers.ts";

export type { StartedTarget };
export { localStackDir };

export interface TargetRequest {
  /** a built-in target's name, or a target file */
  ref: string;
  runDir: string;
  runId: string;
  webhookUrl?: string;
  stackSets?: string[];
  stackConfig?: string;
}

interface BuiltinTarget {
  description: string;
  /** What undoes starting it, journaled before it starts, so that `recover` finds what a killed run left. */
  undo(r: Pick<TargetRequest, "runDir" | "runId">): UndoRecord;
  start(r: TargetRequest, stack: { dir: string; sets: string[]; configFile?: string; webhookUrl?: string }): Promise<StartedTarget>;
}

/** The targets faultline starts itself, by name. Any other reference is a target file. */
const BUILTIN = {
  local: {
    description: "the reference stack as processes on loopback, for the run",
    undo: (r) => ({ driver: "local-stack", op: "stop", dir: localStackDir(r.runDir) }),
    start: (_r, stack) => startLocalTarget(stack),
  },
  testcontainers: {
    description: "the reference stack in Docker, one network per run",
    undo: (r) => ({ driver: "testcontainers", op: "remove", run: r.runId }),
    // loaded only here: testcontainers and dockerode are not needed by any other target
    start: async (r, stack) => (await import("./testcontainers.ts")).startTestcontainersTarget({ ...stack, runId: r.runId }),
  },
  kubernetes: {
    description: "the stack's gateway in front of the local cluster's pods (FAULTLINE_K8S_DIR, default .faultline/k8s)",
    undo: (r) => ({ driver: "local-stack", op: "stop", dir: localStackDir(r.runDir) }),
    start: async (_r, stack) => {
      const clusterDir = process.env.FAULTLINE_K8S_DIR ?? DEFAULT_CLUSTER_DIR;
      if (!clusterRunning(clusterDir)) throw new FaultlineError("E_TARGET", `--target kubernetes needs the local control plane in ${clusterDir}: run \`make k8s-up\` (or \`faultline k8s up\`) first`);
      return (await import("./kubernetes.ts")).startKubernetesTarget({ ...stack, clusterDir });
    },
  },
} satisfies Record<string, BuiltinTarget>;
export type BuiltinTargetName = keyof typeof BUILTIN;
export const BUILTIN_TARGETS = Object.keys(BUILTIN) as BuiltinTargetName[];

/** What the targets journal when they start: undone by `recover` like a fault. */
export const TARGET_BACKENDS: Record<string, Backend> = { "local-stack": localStackBackend, testcontainers: testcontainersBackend };

export function isBuiltinTarget(ref: string): ref is BuiltinTargetName {
  return Object.hasOwn(BUILTIN, ref);
}

/** A target as written inside a file (an experiment's or a game day's `target:`): a built-in name, or a path relative to that file. */
export function resolveTargetRef(ref: string, baseDir: string): string {
  return isBuiltinTarget(ref) || isAbsolute(ref) ? ref : join(baseDir, ref);
}

/** What undoes starting the target, for the journal; a target file starts nothing. */
export function targetUndo(r: Pick<TargetRequest, "ref" | "runDir" | "runId">): UndoRecord | undefined {
  return isBuiltinTarget(r.ref) ? BUILTIN[r.ref].undo(r) : undefined;
}

/** A target file that does not exist, with the built-in names when it looks like one misspelt. */
function notAFile(ref: string): string | undefined {
  if (ref.includes("/") || /\.ya?ml$/.test(ref)) return undefined;
  const guess = didYouMean(ref, BUILTIN_TARGETS);
  return `"${ref}" is no built-in target${guess ? ` (did you mean "${guess}"?)` : ""} and no file: the built-in targets are ${BUILTIN_TARGETS.join(", ")}`;
}

/** A target file, read and checked; paths in it are relative to it. A mistake in it is invalid input (exit 2). */
export async function loadTargetFile(ref: string): Promise<Target> {
  const target = await loadOne(ref, "Target").catch((err: unknown) => {
    const hint = err instanceof FaultlineError && err.code === "E_FILE" ? notAFile(ref) : undefined;
    throw hint === undefined ? err : new FaultlineError("E_FILE", hint, { cause: err });
  });
  if (target.kubernetes && !isAbsolute(target.kubernetes.kubeconfig)) {
    target.kubernetes.kubeconfig = resolve(dirname(ref), target.kubernetes.kubeconfig);
  }
  return target;
}

/**
 * Resolves a target reference into endpoints: a built-in target starts for the run (see BUILTIN), a
 * file is read as it is. Either way, what the experiment names (endpoints, proxies by label,
 * replicas) comes from the Target document.
 */
export async function startTarget(r: TargetRequest): Promise<StartedTarget> {
  const stack = { dir: localStackDir(r.runDir), sets: r.stackSets ?? [], ...(r.stackConfig ? { configFile: r.stackConfig } : {}), ...(r.webhookUrl ? { webhookUrl: r.webhookUrl } : {}) };
  if (isBuiltinTarget(r.ref)) return BUILTIN[r.ref].start(r, stack);
  if ((r.stackSets ?? []).length > 0) {
    throw new FaultlineError("E_INVALID_INPUT", `--stack-set only applies to the built-in targets ${BUILTIN_TARGETS.join(", ")} (the target is ${r.ref})`);
  }
  const target = await loadTargetFile(r.ref);
  const control = target.stack?.control;
  if (control !== undefined && r.webhookUrl !== undefined) {
    // A stack that speaks the control API sends its alert notifications to this run.
    await fetch(`${control}/alerting/webhook`, { method: "POST", body: JSON.stringify({ url: r.webhookUrl }), signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  }
  return { target, targetFile: r.ref, processGroups: besideTargetFile(r.ref, target), stop: async () => undefined };
}

/**
 * A target file that `faultline stack up` or `faultline k8s up` wrote sits in its state folder, beside
 * the process group of what it started: that system runs on this host, and its CPU is the system's,
 * not other work's (a cluster rescheduling pods is the system reacting, not a neighbour starving it).
 * Any other target file whose endpoints are on loopback names a system on this host whose processes
 * faultline does not know: undefined, so that its CPU is never called other work (a test's own
 * server at 200 req/s read as "other work" once, and a failing check was made inconclusive). The
 * rest name a system elsewhere: [].
 */
function besideTargetFile(ref: string, target: Target): () => number[] | undefined {
  const dir = dirname(resolve(ref));
  const here = Object.values(target.endpoints).some((e) => isLoopback(new URL(e.url).hostname));
  return () => {
    const groups = pgidsIn(dir, "stack.pgid", "cluster.pgid");
    return groups.length > 0 || !here ? groups : undefined;
  };
}

const isLoopback = (host: string): boolean => host === "localhost" || host === "[::1]" || host === "::1" || /^127\./.test(host);
