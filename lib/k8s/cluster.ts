import { KWOK_ANNOTATION_KEY } from "../clients/kubernetes.ts";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FaultlineError } from "../errors.ts";
import { claimPodBlock, kwokCidr, releasePodBlock } from "./podnet.ts";
import { groupMembers, readPgid, startGroupLeader, stopGroup } from "../proc/group.ts";

const MAIN = fileURLToPath(new URL("./cluster-main.ts", import.meta.url));
export const DEFAULT_CLUSTER_DIR = ".faultline/k8s";
/** kwok manages (heartbeats, runs the pods of) only the nodes carrying this annotation. */
export const KWOK_ANNOTATION = `${KWOK_ANNOTATION_KEY}=fake`;

export interface ClusterOptions {
  /** where kube-apiserver, -controller-manager, -scheduler and kwok are */
  binDir: string;
  etcd: string;
  /** kwok gives pods IPs from here (its --cidr); by default a block that `up` makes local to lo (lib/k8s/podnet.ts), so a real process can serve at each pod's IP */
  podCidr?: string;
  /** the block whose `local` route on lo this cluster added, removed by `down` */
  podRoute?: string;
  kwokAnnotation: string;
  /** kwok's stages (node initialise, heartbeats, pod lifecycle): tools/kwok-stages.yaml from setup */
  kwokConfig: string;
  /** a node that stops heartbeating is NotReady after this long */
  nodeMonitorGraceSeconds: number;
  /** kwok's node leases; it renews them at a quarter of this, and gaps reach twice it */
  nodeLeaseSeconds: number;
  /** Argo Rollouts' controller and the folder of its CRDs (tools/ from setup-k8s): installed and started with the cluster; false: none */
  argoRollouts: { controller: string; crds: string } | false;
}

export interface ClusterState {
  ready: boolean;
  pid: number;
  server?: string;
  kubeconfig?: string;
  token?: string;
  ca?: string;
  ports?: { etcd: number; apiserver: number; bridgeMetrics?: number; argoRolloutsMetrics?: number };
  logs: string;
  error?: string;
}

export function defaultClusterOptions(root = process.cwd()): ClusterOptions {
  return {
    binDir: join(root, "tools", "bin"),
    etcd: existsSync("/usr/bin/etcd") ? "/usr/bin/etcd" : "etcd",
    kwokAnnotation: KWOK_ANNOTATION,
    kwokConfig: join(root, "tools", "kwok-stages.yaml"),
    nodeMonitorGraceSeconds: 10,
    nodeLeaseSeconds: 2,
    argoRollouts: { controller: join(root, "tools", "bin", "rollouts-controller"), crds: join(root, "tools", "argo-rollouts-crds") },
  };
}

export function readClusterState(dir = DEFAULT_CLUSTER_DIR): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(join(resolve(dir), "cluster.json"), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Starts etcd, the control plane and kwok in the background; returns once the API answers. */
export async function clusterUp(opts: Partial<ClusterOptions> & { dir?: string; timeoutMs?: number; onProgress?: (line: string) => void } = {}): Promise<ClusterState> {
  const dir = resolve(opts.dir ?? DEFAULT_CLUSTER_DIR);
  const o: ClusterOptions = { ...defaultClusterOptions(), ...opts };
  const argo = o.argoRollouts === false ? [] : [o.argoRollouts.controller, join(o.argoRollouts.crds, "rollout-crd.yaml")];
  for (const f of [...["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"].map((b) => join(o.binDir, b)), o.kwokConfig, ...argo]) {
    if (!existsSync(f)) throw new FaultlineError("E_TOOL", `${f} is missing: run \`make setup-k8s\` (builds the control plane once, cached)`);
  }
  return startGroupLeader<ClusterState>({
    what: "cluster",
    dir,
    main: MAIN,
    pgidFile: "cluster.pgid",
    stateFile: "cluster.json",
    read: () => readClusterState(dir),
    prepare: () => {
      if (o.podCidr === undefined) {
        o.podRoute = claimPodBlock();
        o.podCidr = kwokCidr(o.podRoute);
      }
      writeFileSync(join(dir, "cluster-options.json"), JSON.stringify(o, null, 1));
    },
    down: () => clusterDown({ dir }),
    downCommand: "faultline k8s down",
    timeoutMs: opts.timeoutMs ?? 180_000,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
}

/** A Target file for the local cluster, beside its kubeconfig: `--target kubernetes` reads it. */
export function writeClusterTarget(dir = DEFAULT_CLUSTER_DIR, namespaces: string[] = ["inference"]): string {
  const file = join(resolve(dir), "target.yaml");
  writeFileSync(
    file,
    [
      "apiVersion: faultline.dev/v1",
      "kind: Target",
      "metadata: { name: local-kubernetes, description: the local control plane with kwok's simulated GPU nodes }",
      "kubernetes:",
      "  kubeconfig: kubeconfig",
      `  namespaces: [${namespaces.join(", ")}]`,
      "",
    ].join("\n"),
  );
  return file;
}

/** Stops every process of the cluster, also after `up` crashed half-way; its data goes with it. */
export async function clusterDown(opts: { dir?: string } = {}): Promise<{ stopped: number }> {
  const dir = resolve(opts.dir ?? DEFAULT_CLUSTER_DIR);
  const pgid = readPgid(dir, "cluster.pgid");
  const stopped = pgid === undefined ? 0 : await stopGroup(pgid, 10_000);
  const optionsFile = join(dir, "cluster-options.json");
  if (existsSync(optionsFile)) {
    const o = JSON.parse(readFileSync(optionsFile, "utf8")) as ClusterOptions;
    if (o.podRoute !== undefined) {
      releasePodBlock(o.podRoute);
      delete o.podRoute;
      writeFileSync(optionsFile, JSON.stringify(o, null, 1));
    }
  }
  for (const f of ["cluster.pgid", "cluster.json", "etcd", "pki", "kubeconfig", "target.yaml"]) rmSync(join(dir, f), { recursive: true, force: true });
  return { stopped };
}

export function clusterRunning(dir = DEFAULT_CLUSTER_DIR): boolean {
  const pgid = readPgid(resolve(dir), "cluster.pgid");
  return pgid !== undefined && groupMembers(pgid).length > 0 && readClusterState(dir)?.ready === true;
}
