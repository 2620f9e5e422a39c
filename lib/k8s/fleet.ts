import type { V1Deployment, V1Node, V1Service } from "@kubernetes/client-node";
import { retryUntil } from "../clock.ts";
import { FaultlineError } from "../errors.ts";
import { APP_LABEL, GPU, KWOK_ANNOTATION_KEY, REGION_LABEL, ZONE_LABEL, apiError, isReady, isServing, orNotFound, selectorString } from "../clients/kubernetes.ts";
import type { Kube } from "../clients/kubernetes.ts";

export const FLEET_LABEL = "faultline.dev/fleet";

export interface FleetRegion {
  name: string;
  zones: number;
  nodesPerZone: number;
  /** inference replicas (pods) in this region */
  replicas: number;
}

export interface FleetSpec {
  namespace: string;
  regions: FleetRegion[];
  gpusPerNode: number;
  /** the inference image (kwok does not pull it; a real cluster would) */
  image: string;
  /** seconds a pod stays bound to a NotReady node before it is evicted and rescheduled */
  tolerationSeconds: number;
}

export const DEFAULT_FLEET: FleetSpec = {
  namespace: "inference",
  regions: [
    { name: "us-east", zones: 3, nodesPerZone: 1, replicas: 3 },
    { name: "us-west", zones: 3, nodesPerZone: 1, replicas: 3 },
    { name: "eu-west", zones: 3, nodesPerZone: 1, replicas: 3 },
  ],
  gpusPerNode: 8,
  image: "faultline/replica:sim-7b-v1",
  tolerationSeconds: 5,
};

export function nodeManifest(name: string, region: string, zone: string, gpus: number): V1Node {
  const resources = { cpu: "64", memory: "512Gi", pods: "110", [GPU]: String(gpus) };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION_KEY]: "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        type: "kwok",
        [FLEET_LABEL]: "true",
        [REGION_LABEL]: region,
        [ZONE_LABEL]: zone,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        "nvidia.com/gpu.count": String(gpus),
      },
    },
    status: { allocatable: resources, capacity: resources },
  };
}

/** One Deployment per region: one GPU per pod, spread over the region's zones. */
export function deploymentManifest(spec: FleetSpec, region: FleetRegion): V1Deployment {
  const labels = { [APP_LABEL]: "inference", [REGION_LABEL]: region.name };
  const tolerate = (key: string): { key: string; operator: string; effect: string; tolerationSeconds: number } => ({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: spec.tolerationSeconds });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: `inference-${region.name}`, namespace: spec.namespace, labels },
    spec: {
      replicas: region.replicas,
      // a pod counts as available once Ready for 2 s: kwok reports it Ready at once, the bridge's readiness probe corrects that within ~0.5 s
      minReadySeconds: 2,
      selector: { matchLabels: labels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { ...labels, "faultline.dev/version": "v1" } },
        spec: {
          nodeSelector: { [REGION_LABEL]: region.name, type: "kwok" },
          tolerations: [tolerate("node.kubernetes.io/not-ready"), tolerate("node.kubernetes.io/unreachable")],
          // One replica per zone; zones whose nodes are NotReady or cordoned (tainted) drop out of the count, so a lost zone's replicas move to the others.
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: ZONE_LABEL, whenUnsatisfiable: "DoNotSchedule", nodeTaintsPolicy: "Honor", labelSelector: { matchLabels: labels } }],
          containers: [
            {
              name: "replica",
              image: spec.image,
              env: [{ name: "MODEL_VERSION", value: "v1" }],
              ports: [{ name: "http", containerPort: 8000 }],
              resources: { requests: { [GPU]: "1", cpu: "1", memory: "4Gi" }, limits: { [GPU]: "1" } },
            },
          ],
        },
      },
    },
  };
}

/** Each region's Service (headless: no kube-proxy here): its EndpointSlices are what the gateway follows. */
export const SERVICE_PREFIX = "inference-";

export function serviceManifest(spec: FleetSpec, region: FleetRegion): V1Service {
  const labels = { [APP_LABEL]: "inference", [REGION_LABEL]: region.name };
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `${SERVICE_PREFIX}${region.name}`, namespace: spec.namespace, labels },
    spec: { clusterIP: "None", selector: labels, ports: [{ name: "http", port: 8000, targetPort: 8000 }] },
  };
}

export const nodeName = (region: string, zone: string, i: number): string => `gpu-${zone}-${i + 1}`;

/** Creates (or leaves as they are) the fleet's nodes, namespace and Deployments; waits until every replica is Ready. */
export async function applyFleet(k: Kube, spec: FleetSpec = DEFAULT_FLEET, opts: { timeoutMs?: number; onProgress?: (line: string) => void } = {}): Promise<{ nodes: number; replicas: number }> {
  let nodes = 0;
  const creates: Promise<unknown>[] = [];
  for (const r of spec.regions) {
    for (let z = 0; z < r.zones; z++) {
      const zone = `${r.name}-${String.fromCharCode(97 + z)}`;
      for (let i = 0; i < r.nodesPerZone; i++) {
        const body = nodeManifest(nodeName(r.name, zone, i), r.name, zone, spec.gpusPerNode);
        nodes++;
        creates.push(
          k.core.createNode({ body }).catch((err: unknown) => {
            if ((err as { code?: number }).code !== 409) throw apiError(`create node ${body.metadata?.name}`, err);
          }),
        );
        // bounded parallelism: the API server on a small machine prefers batches
        if (creates.length >= 50) await Promise.all(creates.splice(0));
      }
    }
  }
  await Promise.all(creates);
  // Replicas are placed only once every node is Ready and untainted: a node still starting would
  // drop out of the zone spread and leave its zone without a replica.
  await retryUntil(
    async () => (await k.core.listNode({ labelSelector: `${FLEET_LABEL}=true` })).items.filter((n) => isReady(n) && !(n.spec?.taints ?? []).length).length,
    (ready) => ready >= nodes,
    ({ value, elapsedMs }) => new FaultlineError("E_TIMEOUT", `${value ?? 0} of ${nodes} GPU nodes Ready after ${elapsedMs}ms (is kwok running?)`),
    { timeoutMs: opts.timeoutMs ?? 120_000, intervalMs: 250 },
  );
  opts.onProgress?.(`${nodes} GPU nodes in ${spec.regions.length} regions Ready`);
  if ((await orNotFound(() => k.core.readNamespace({ name: spec.namespace }))) === undefined) {
    await k.core.createNamespace({ body: { metadata: { name: spec.namespace } } }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw apiError(`create namespace ${spec.namespace}`, err);
    });
  }
  for (const r of spec.regions) {
    const body = deploymentManifest(spec, r);
    const service = serviceManifest(spec, r);
    await k.core.createNamespacedService({ namespace: spec.namespace, body: service }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw apiError(`create service ${service.metadata?.name}`, err);
    });
    const existing = await orNotFound(() => k.apps.readNamespacedDeployment({ name: body.metadata?.name as string, namespace: spec.namespace }));
    if (existing === undefined) await k.apps.createNamespacedDeployment({ namespace: spec.namespace, body }).catch((err: unknown) => { throw apiError(`create deployment ${body.metadata?.name}`, err); });
  }
  const want = spec.regions.reduce((s, r) => s + r.replicas, 0);
  await retryUntil(
    () => readyReplicas(k, spec.namespace),
    (n) => n >= want,
    ({ value, elapsedMs }) => new FaultlineError("E_TIMEOUT", `${value ?? 0} of ${want} inference replicas Ready after ${elapsedMs}ms`),
    { timeoutMs: opts.timeoutMs ?? 120_000, intervalMs: 250 },
  );
  opts.onProgress?.(`${want} inference replicas Ready`);
  return { nodes, replicas: want };
}

export async function readyReplicas(k: Kube, namespace: string): Promise<number> {
  const pods = await k.core.listNamespacedPod({ namespace, labelSelector: selectorString({ [APP_LABEL]: "inference" }) });
  // In the bridge's namespace Ready by its readiness probe, not only by kwok's first Ready: the
  // replica serves. Elsewhere (a benchmark's thousand-node fleet) pods are kwok's alone.
  const ready = namespace === DEFAULT_FLEET.namespace ? isServing : isReady;
  return pods.items.filter((p) => p.metadata?.deletionTimestamp === undefined && ready(p)).length;
}
