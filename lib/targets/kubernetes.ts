import { existsSync } from "node:fs";
import { join } from "node:path";
import { FaultlineError } from "../errors.ts";
import { loadOne } from "../loader/documents.ts";
import type { Target } from "../schema/target.ts";
import { readClusterState } from "../k8s/cluster.ts";
import { pgidsIn } from "../proc/group.ts";
import { APP_LABEL, REGION_LABEL, apiError, kube } from "../clients/kubernetes.ts";
import { ANALYSIS_TEMPLATES, CANARY_ANALYSIS, DEFAULT_FLEET, ROLLOUTS, SERVICE_PREFIX, analysisTemplateManifest } from "../k8s/fleet.ts";
import type { Kube } from "../clients/kubernetes.ts";
import { loadStackConfig } from "../stack/config.ts";
import { LOOPBACK } from "../stack/placement.ts";
import { stackSets, startStack } from "./local.ts";
import type { LocalTargetOptions, StartedTarget } from "./local.ts";

/**
 * The gateway, Toxiproxy and Prometheus are fresh for each run but the cluster's replicas have idled
 * since the last: at 2,000 req/s on two cores region-partition's p99 was 0.6–2.6 s from 2.5 to 7 s
 * into the load (the system on 1.5–1.7 cores, the generator held up to 420 ms), under 100 ms from
 * 7.5 s; its baseline, from 5 s, was inconclusive. The testcontainers target's cold start is alike.
 */
const CLUSTER_WARMUP_MS = 10_000;

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
  // Argo Rollouts too, where its CRDs are installed (a cluster without them answers 404)
  const rollouts = await listRollouts(k, namespace);
  // the gateway's regions are the config's (weights, standby) with the cluster's replica counts
  const replicas = new Map<string, number>();
  for (const d of [...deployments.items, ...rollouts]) {
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
  const argo = cluster.ports?.argoRolloutsMetrics;
  const scrape = [...(bridge ? [{ job: "pod-bridge", target: `127.0.0.1:${bridge}` }] : []), ...(argo ? [{ job: "argo-rollouts", target: `127.0.0.1:${argo}` }] : [])];
  // a session store given in the cluster's target file is the pods' (their Deployments name it): the run audits it
  const sessions = await clusterSessions(o.clusterDir);
  const placement = { ...LOOPBACK, kubernetes: { kubeconfig: cluster.kubeconfig, namespace, servicePrefix: SERVICE_PREFIX, scrape, ...(sessions ? { sessions } : {}) } };
  // the system under test is the gateway's stack and the cluster with its replica processes
  const started = await startStack(config, { dir: o.dir, placement, timeoutMs: 90_000 }, () => pgidsIn(o.clusterDir, "cluster.pgid"));
  if (rollouts.length > 0) {
    // the Rollouts' analysis asks this run's Prometheus, with this run's rollback triggers
    const prometheus = started.target.prometheus?.url;
    if (prometheus !== undefined) await upsertAnalysisTemplate(k, namespace, analysisTemplateManifest(namespace, prometheus, config.rollout)).catch(async (err: unknown) => {
      await started.stop();
      throw err;
    });
  }
  return { ...started, warmupMs: CLUSTER_WARMUP_MS };
}

/** The `sessions` of the cluster's target file (`faultline k8s up` writes it; a user adds the section). */
async function clusterSessions(clusterDir: string): Promise<Target["sessions"]> {
  const file = join(clusterDir, "target.yaml");
  return existsSync(file) ? (await loadOne(file, "Target")).sessions : undefined;
}

interface RolloutLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
}

async function listRollouts(k: Kube, namespace: string): Promise<RolloutLike[]> {
  try {
    const list = (await k.custom.listNamespacedCustomObject({ ...ROLLOUTS, namespace, labelSelector: `${APP_LABEL}=inference` })) as { items?: RolloutLike[] };
    return list.items ?? [];
  } catch (err) {
    if ((err as { code?: number }).code === 404) return [];
    throw apiError(`list rollouts in ${namespace}`, err);
  }
}

async function upsertAnalysisTemplate(k: Kube, namespace: string, body: Record<string, unknown>): Promise<void> {
  const ref = { ...ANALYSIS_TEMPLATES, namespace, name: CANARY_ANALYSIS };
  try {
    const old = (await k.custom.getNamespacedCustomObject(ref)) as { metadata?: { resourceVersion?: string } };
    await k.custom.replaceNamespacedCustomObject({ ...ref, body: { ...body, metadata: { ...(body.metadata as object), resourceVersion: old.metadata?.resourceVersion } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw apiError(`update AnalysisTemplate ${namespace}/${CANARY_ANALYSIS}`, err);
    await k.custom.createNamespacedCustomObject({ ...ANALYSIS_TEMPLATES, namespace, body }).catch((e: unknown) => {
      throw apiError(`create AnalysisTemplate ${namespace}/${CANARY_ANALYSIS}`, e);
    });
  }
}
