import { promRange } from "../clients/prometheus.ts";
import { errorMessage } from "../errors.ts";
import type { StackSample } from "../schema/run-record.ts";

type Field = Exclude<keyof StackSample, "t">;

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
  replicaQueueP99Ms: `1000 * histogram_quantile(0.99, sum by (le) (rate(inference_request_queue_time_seconds_bucket[3s])))`,
  replicaQueued: `sum(inference_queue_depth)`,
  shedPerSecond: `sum(rate(inference_requests_shed_total[3s]))`,
};

/** The lane from `from` to `to` (epoch ms), one sample a second; `warn` hears a query that failed. */
export async function stackLane(prometheus: string, from: number, to: number, warn: (message: string) => void): Promise<StackSample[]> {
  const byT = new Map<number, StackSample>();
  await Promise.all(
    (Object.entries(LANE) as [Field, string][]).map(async ([field, expr]) => {
      try {
        for (const s of await promRange(prometheus, expr, from, to, "the stack lane")) {
          for (const [sec, v] of s.values) {
            const x = Number(v);
            if (!Number.isFinite(x)) continue;
            const t = Math.round(sec * 1000);
            const sample = byT.get(t) ?? { t };
            sample[field] = Math.round(x * 100) / 100;
            byT.set(t, sample);
          }
        }
      } catch (err) {
        warn(errorMessage(err));
      }
    }),
  );
  return [...byT.values()].sort((a, b) => a.t - b.t);
}
