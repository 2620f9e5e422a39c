import { FaultlineError } from "../errors.ts";
import { readClusterState } from "../k8s/cluster.ts";
import { readPgid } from "../proc/group.ts";
import { APP_LABEL, REGION_LABEL, apiError, kube } from "../clients/kubernetes.ts";
import { DEFAULT_FLEET, SERVICE_PREFIX } from "../k8s/fleet.ts";
import { loadStackConfig } from "../stack/config.ts";
import { LOOPBACK } from "../stack/placement.ts";
import { stackSets, startStack } from "./local.ts";
import type { LocalTargetOptions, StartedTarget } from "./local.ts";

/**
 * `--target kubernetes`: the local cluster's inference pods behind the stack's gateway, Toxiproxy,
 * Prometheus and Alertmanager, started for this run in its folder. The gateway follows each region's
 * Service's EndpointSlices, Prometheus finds the pods through the API server, and the target file
 * it writes has a kubernetes section, so the cluster faults (node, zone and pod loss, exec, rollouts)
 * and the path faults (latency, partitions) both apply: the shipped experiments run unchanged.
 */
export async function startKubernetesTarget(o: LocalTargetOptions & { clusterDir: string; namespace?: string }): Promise<StartedTarget> {
  const cluster = readClusterState(o.clusterDir);
  if (cluster?.kubeconfig === undefined) throw new FaultlineError("E_TARGET", `no running cluster in ${o.clusterDir}: run \`make k8s-up\` first`);
  const namespace = o.namespace ?? DEFAULT_FLEET.namespace;
  const k = kube(cluster.kubeconfig);
  const deployments = await k.apps.listNamespacedDeployment({ namespace, labelSelector: `${APP_LABEL}=inference` }).catch((err: unknown) => {
    throw apiError(`list deployments in ${namespace}`, err);
  });
  // the gateway's regions are the config's (weights, standby) with the cluster's replica counts
  const replicas = new Map<string, number>();
  for (const d of deployments.items) {
    const region = d.metadata?.labels?.[REGION_LABEL];
    if (region !== undefined) replicas.set(region, (replicas.get(region) ?? 0) + (d.spec?.replicas ?? 1));
  }
  const base = await loadStackConfig(o.configFile, stackSets(o));
  const regions = base.regions.filter((r) => replicas.has(r.name)).map((r) => ({ ...r, replicas: replicas.get(r.name) as number }));
  if (!regions.some((r) => !r.standby && r.weight > 0)) {
    throw new FaultlineError("E_TARGET", `namespace ${namespace} has no inference Deployment in a serving region of the stack config (regions ${base.regions.map((r) => r.name).join(", ")}; the cluster has ${[...replicas.keys()].join(", ") || "none"})`);
  }
  const config = { ...base, regions };
  const bridge = cluster.ports?.bridgeMetrics;
  const placement = {
    ...LOOPBACK,
    kubernetes: { kubeconfig: cluster.kubeconfig, namespace, servicePrefix: SERVICE_PREFIX, scrape: bridge ? [{ job: "pod-bridge", target: `127.0.0.1:${bridge}` }] : [] },
  };
  // the system under test is the gateway's stack and the cluster with its replica processes
  return startStack(config, { dir: o.dir, placement, timeoutMs: 90_000 }, () => [readPgid(o.clusterDir, "cluster.pgid")].filter((g): g is number => g !== undefined));
}
