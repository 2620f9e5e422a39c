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
  /** each region's inference workload: a Deployment, or an Argo Rollout (canary with analysis between steps) */
  workload: "deployment" | "rollout";
  /** a Rollout's canary weights, the last 100 (the seed's 5, 50, 100) */
  canarySteps: number[];
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
  workload: "deployment",
  canarySteps: [5, 50, 100],
};

export const ROLLOUTS = { group: "argoproj.io", version: "v1alpha1", plural: "rollouts" } as const;
export const ANALYSIS_TEMPLATES = { group: "argoproj.io", version: "v1alpha1", plural: "analysistemplates" } as const;
/** The AnalysisTemplate each Rollout's analysis steps use; the kubernetes target writes it with the run's Prometheus. */
export const CANARY_ANALYSIS = "inference-canary";

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

/**
 * The region's workload as an Argo Rollout: the Deployment's pod template under a canary strategy
 * with the seed's steps — set a weight, then an analysis against the run's Prometheus, for each
 * step below 100 — so the controller promotes or aborts (rolls back) as the analysis says.
 */
export function rolloutManifest(spec: FleetSpec, region: FleetRegion): Record<string, unknown> {
  const d = deploymentManifest(spec, region);
  // the canary's version: its MODEL_VERSION, the first env entry of the template (Argo's field paths split label keys with dots)
  const args = [{ name: "canary-version", valueFrom: { fieldRef: { fieldPath: "spec.template.spec.containers[0].env[0].value" } } }];
  const steps = spec.canarySteps.filter((w) => w < 100).flatMap((w) => [{ setWeight: w }, { analysis: { templates: [{ templateName: CANARY_ANALYSIS }], args } }]);
  return {
    apiVersion: `${ROLLOUTS.group}/${ROLLOUTS.version}`,
    kind: "Rollout",
    metadata: d.metadata,
    spec: { replicas: d.spec?.replicas, minReadySeconds: d.spec?.minReadySeconds, selector: d.spec?.selector, template: d.spec?.template, strategy: { canary: { maxSurge: 1, maxUnavailable: 0, steps } } },
  };
}

/**
 * The seed's rollback triggers as an Argo AnalysisTemplate on the replicas' own metrics: the
 * canary's error rate above `maxErrorRatePct`, or its p95 above `maxLatencyRatio` × the other
 * versions', measured `intervalSeconds` after the step began.
 *
 * The canary is judged on everything it has served: its own counters and buckets as they stand
 * (they start at zero with its process), not a rate over the last interval. The gateway ejects a
 * replica whose errors pass its outlier limit within a second or two of its first requests, so a
 * bad canary is often answering nobody by the time the analysis asks; a rate window would then
 * hold nothing, where its counters still hold the errors it made (measured: a v2-bad canary ejected
 * at 10 % errors 0.1 s into its analysis step answered nothing until the step ended, and Argo counts
 * an analysis stopped before any measurement as Successful). The stable versions' p95 is their rate over the interval: they always have traffic.
 *
 * No answer yet is asked again, not judged: a new canary pod reaches Prometheus through file
 * discovery, which Prometheus (2.42) passes on at most every 5 s and its scrape manager reloads at
 * most every 5 s more, so a canary Ready a second before its step can still have no series when
 * the first measurement comes (CI: "error-rate [] (Failed)" on a healthy canary, slotted 6 s
 * before). An empty result makes `result[0]` an evaluation error, which Argo measures again after
 * `interval` without counting it; past `consecutiveErrorLimit` (three empty answers in a row, the
 * last three intervals into the step) the analysis errors and the rollout aborts: it still cannot
 * vouch for what it never saw.
 */
export function analysisTemplateManifest(namespace: string, prometheus: string, r: { maxErrorRatePct: number; maxLatencyRatio: number; analysisIntervalSeconds: number }): Record<string, unknown> {
  const w = `${Math.max(2, Math.round(r.analysisIntervalSeconds))}s`;
  const canary = 'version="{{args.canary-version}}"';
  const p95 = (buckets: string): string => `histogram_quantile(0.95, sum by (le) (${buckets}))`;
  const metric = (name: string, query: string, limit: number): Record<string, unknown> => ({
    name,
    initialDelay: w,
    interval: w,
    count: 1,
    failureLimit: 0,
    // no answer (result[0] of nothing) is an error, asked again `interval` later; two more empty
    // answers and the analysis errors: a canary that nobody ever reached shows nothing
    consecutiveErrorLimit: 2,
    successCondition: `!isNaN(result[0]) && result[0] <= ${limit}`,
    // a canary scraped before its first request answers 0/0, NaN, which `>= 0` drops (NaN compares false):
    // no answer, asked again, rather than a failed measurement that rolls a healthy canary back (CI: "error-rate
    // [NaN] (Failed), p95-ratio [NaN] (Failed)" 5 s into a step whose canary had not been routed to yet)
    provider: { prometheus: { address: prometheus, query: `(${query}) >= 0` } },
  });
  return {
    apiVersion: `${ANALYSIS_TEMPLATES.group}/${ANALYSIS_TEMPLATES.version}`,
    kind: "AnalysisTemplate",
    metadata: { name: CANARY_ANALYSIS, namespace },
    spec: {
      args: [{ name: "canary-version" }],
      metrics: [
        // a canary without errors has no non-2xx series at all: zero, not nothing
        metric("error-rate", `(sum(inference_requests_total{${canary},code!~"2.."}) or vector(0)) / sum(inference_requests_total{${canary}})`, r.maxErrorRatePct / 100),
        metric("p95-ratio", `${p95(`inference_request_duration_seconds_bucket{${canary}}`)} / ${p95(`rate(inference_request_duration_seconds_bucket{version!="{{args.canary-version}}"}[${w}])`)}`, r.maxLatencyRatio),
      ],
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
  if (spec.workload === "rollout") {
    // Argo refuses a Rollout whose analysis names a missing template: one with the seed's triggers
    // now, pointed at no Prometheus yet; the kubernetes target rewrites it with its run's
    const tpl = analysisTemplateManifest(spec.namespace, "http://127.0.0.1:9", { maxErrorRatePct: 2, maxLatencyRatio: 2, analysisIntervalSeconds: 10 });
    const existing = await orNotFound(() => k.custom.getNamespacedCustomObject({ ...ANALYSIS_TEMPLATES, namespace: spec.namespace, name: CANARY_ANALYSIS }));
    if (existing === undefined) await k.custom.createNamespacedCustomObject({ ...ANALYSIS_TEMPLATES, namespace: spec.namespace, body: tpl }).catch((err: unknown) => { throw apiError(`create AnalysisTemplate ${CANARY_ANALYSIS} (is Argo Rollouts installed? faultline k8s up installs it)`, err); });
  }
  for (const r of spec.regions) {
    const body = deploymentManifest(spec, r);
    const service = serviceManifest(spec, r);
    await k.core.createNamespacedService({ namespace: spec.namespace, body: service }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw apiError(`create service ${service.metadata?.name}`, err);
    });
    const name = body.metadata?.name as string;
    if (spec.workload === "rollout") {
      const existing = await orNotFound(() => k.custom.getNamespacedCustomObject({ ...ROLLOUTS, namespace: spec.namespace, name }));
      if (existing === undefined) await k.custom.createNamespacedCustomObject({ ...ROLLOUTS, namespace: spec.namespace, body: rolloutManifest(spec, r) }).catch((err: unknown) => { throw apiError(`create rollout ${name} (is Argo Rollouts installed? faultline k8s up installs it)`, err); });
      continue;
    }
    const existing = await orNotFound(() => k.apps.readNamespacedDeployment({ name, namespace: spec.namespace }));
    if (existing === undefined) await k.apps.createNamespacedDeployment({ namespace: spec.namespace, body }).catch((err: unknown) => { throw apiError(`create deployment ${name}`, err); });
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
