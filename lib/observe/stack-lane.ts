import { promRange } from "../clients/prometheus.ts";
import { errorMessage } from "../errors.ts";
import type { RegionSample, StackSample } from "../schema/run-record.ts";

type Field = Exclude<keyof StackSample, "t" | "regions">;

/** One of the seed's stages, p99 across the replicas over 3 s, ms. */
const stageP99 = (stage: string): string => `1000 * histogram_quantile(0.99, sum by (le) (rate(inference_stage_duration_seconds_bucket{stage="${stage}"}[3s])))`;

/**
 * Where the stack's time went, as PromQL over what the reference stack exports: HAProxy's exporter
 * (its averages cover the backend's last 1,024 requests) and the replicas' own metrics. A target
 * whose Prometheus has none of these gets no lane, not an error.
 */
const LANE: Record<Field, string> = {
  gatewayQueueMs: `1000 * max(haproxy_backend_queue_time_average_seconds{proxy="inference"})`,
  gatewayConnectMs: `1000 * max(haproxy_backend_connect_time_average_seconds{proxy="inference"})`,
  gatewayResponseMs: `1000 * max(haproxy_backend_response_time_average_seconds{proxy="inference"})`,
  gatewayQueued: `sum(haproxy_backend_current_queue{proxy="inference"})`,
  gatewayStolenMs: `1000 * max(irate(stack_gateway_cpu_stolen_seconds_total[3s]))`,
  replicaQueueP99Ms: `1000 * histogram_quantile(0.99, sum by (le) (rate(vllm:request_queue_time_seconds_bucket[3s])))`,
  replicaQueued: `sum(vllm:num_requests_waiting)`,
  shedPerSecond: `sum(rate(inference_requests_shed_total[3s]))`,
  replicaRequestsPerSecond: `sum(rate(inference_requests_received_total[3s]))`,
  replicationLagSeconds: `max(stack_session_replication_lag_seconds)`,
  tokenizationP99Ms: stageP99("tokenization"),
  inferenceP99Ms: stageP99("inference"),
  postprocessingP99Ms: stageP99("postprocessing"),
  kvCacheUsagePct: `100 * max(vllm:kv_cache_usage_perc)`,
  preemptionsPerSecond: `sum(rate(vllm:num_preemptions_total[3s]))`,
  ttftP99Ms: `1000 * histogram_quantile(0.99, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket[3s])))`,
  gpuUtilPct: `avg(DCGM_FI_DEV_GPU_UTIL)`,
  gpusWithXid: `count(DCGM_FI_DEV_XID_ERRORS > 0) or (0 * count(DCGM_FI_DEV_XID_ERRORS))`,
};

/** Each region's replicas, server-side: what reached them, what failed, and their p99 (the replicas' `region` scrape label). */
const REGION_LANE: Record<keyof RegionSample, string> = {
  requestsPerSecond: `sum by (region) (rate(inference_requests_received_total[3s]))`,
  errorsPerSecond: `sum by (region) (rate(inference_requests_total{code!~"2.."}[3s]))`,
  p99Ms: `1000 * histogram_quantile(0.99, sum by (region, le) (rate(inference_request_duration_seconds_bucket[3s])))`,
};

/** The lane from `from` to `to` (epoch ms), one sample a second; `warn` hears a query that failed. */
export async function stackLane(prometheus: string, from: number, to: number, warn: (message: string) => void): Promise<StackSample[]> {
  const byT = new Map<number, StackSample>();
  const at = (t: number): StackSample => {
    let sample = byT.get(t);
    if (sample === undefined) byT.set(t, (sample = { t }));
    return sample;
  };
  const read = async (expr: string, put: (sample: StackSample, x: number, labels: Record<string, string>) => void): Promise<void> => {
    try {
      for (const s of await promRange(prometheus, expr, from, to, "the stack lane")) {
        for (const [sec, v] of s.values) {
          const x = Number(v);
          if (Number.isFinite(x)) put(at(Math.round(sec * 1000)), Math.round(x * 100) / 100, s.metric);
        }
      }
    } catch (err) {
      warn(errorMessage(err));
    }
  };
  await Promise.all([
    ...(Object.entries(LANE) as [Field, string][]).map(([field, expr]) => read(expr, (sample, x) => void (sample[field] = x))),
    ...(Object.entries(REGION_LANE) as [keyof RegionSample, string][]).map(([field, expr]) =>
      read(expr, (sample, x, labels) => {
        const region = labels.region;
        if (region !== undefined) ((sample.regions ??= {})[region] ??= {})[field] = x;
      }),
    ),
  ]);
  return [...byT.values()].sort((a, b) => a.t - b.t);
}
