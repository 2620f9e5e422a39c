import { dirname, join } from "node:path";
import { stringify } from "yaml";
import type { StackConfig } from "./config.ts";
import type { Ports, ReplicaSlot } from "./topology.ts";
import type { SessionLayout } from "./session-store.ts";
import { DCGM_PATH } from "./replica-metrics.ts";
import { engineRules } from "./alert-pack.ts";
import type { RuleMaker } from "./alert-pack.ts";

const ERROR_RATIO = (w: number): string =>
  `sum(rate(haproxy_frontend_http_responses_total{proxy="gateway",code="5xx"}[${w}s])) / clamp_min(sum(rate(haproxy_frontend_http_responses_total{proxy="gateway"}[${w}s])), 1e-9)`;

/** The gateway's request rate over the last `w` seconds. */
const GATEWAY_RPS = (w: number): string => `sum(rate(haproxy_frontend_http_requests_total{proxy="gateway"}[${w}s]))`;

/**
 * When the stack's alert rules show a moment (ms): `lagMs` after it (a scrape brings its sample and an
 * evaluation sees it, each every scrape interval; a run polls the alerts every second), and for
 * `memoryMs` after it (their window, then that lag): a warm-up's slow last second can raise an alert
 * `lagMs` after the warm-up ends, and keep it raised until `memoryMs` after.
 */
export function rulesTiming(c: StackConfig): { lagMs: number; memoryMs: number } {
  const lagMs = (2 * c.prometheus.scrapeIntervalSeconds + 1) * 1000;
  return { lagMs, memoryMs: c.alerts.windowSeconds * 1000 + lagMs };
}

/** The seed's alert rules, every threshold from the stack config. */
export function alertRules(c: StackConfig): { groups: unknown[] } {
  const a = c.alerts;
  const w = a.windowSeconds;
  const forS = `${a.forSeconds}s`;
  // TrafficAnomaly's window, sampled every `step` seconds, just before the current rate's own
  const step = Math.max(1, Math.round(w / 5));
  const before = `${GATEWAY_RPS(w)}[${a.trafficAnomalyWindowSeconds}s:${step}s] offset ${w}s`;
  const rule: RuleMaker = (alert, expr, severity, summary, forOverride, labels) => ({
    alert,
    expr,
    for: forOverride ?? forS,
    labels: { severity, source: "faultline-stack", ...labels },
    annotations: { summary },
  });
  return {
    groups: [
      {
        name: "faultline-stack",
        interval: `${Math.round(c.prometheus.scrapeIntervalSeconds * 1000)}ms`,
        rules: [
          rule("HighErrorRate", `${ERROR_RATIO(w)} * 100 > ${a.errorRateWarningPct}`, "warning", `gateway 5xx above ${a.errorRateWarningPct}%`),
          rule("HighErrorRate", `${ERROR_RATIO(w)} * 100 > ${a.errorRateCriticalPct}`, "critical", `gateway 5xx above ${a.errorRateCriticalPct}%`),
          rule(
            "HighP99Latency",
            `histogram_quantile(0.99, sum by (le) (rate(gateway_request_duration_seconds_bucket[${w}s]))) * 1000 > ${a.p99LatencyMs}`,
            "warning",
            `gateway p99 above ${a.p99LatencyMs}ms`,
          ),
          rule("GPUOutOfMemory", `increase(stack_replica_oom_kills_total[1m]) > 0`, "critical", "a replica ran out of GPU memory and was killed", "0s"),
          rule(
            "TrafficAnomaly",
            // against the window before the current rate's own: its mean (a ramp long past does not
            // count), armed only once every part of it had traffic (a stack just started has no
            // samples there, which min_over_time would not see)
            `${GATEWAY_RPS(w)} > ${1 + a.trafficAnomalyGrowthPct / 100} * avg_over_time(${before}) and min_over_time(${before}) >= ${a.trafficAnomalyMinRps} and count_over_time(${before}) >= ${Math.floor((0.9 * a.trafficAnomalyWindowSeconds) / step)}`,
            "critical",
            `requests per second grew more than ${a.trafficAnomalyGrowthPct}% over the ${a.trafficAnomalyWindowSeconds}s before: treated as an attack`,
            "0s",
          ),
          // the engine's and the GPU's: the same rules `faultline rules export --engine vllm` writes
          ...engineRules(c, "faultline", rule).rules,
          // the seed's priorities: one region affected is P1 (warning: the team's chat), the whole service down P0 (critical: the pager)
          rule(
            "RegionDown",
            `sum by (region) (label_replace(haproxy_server_status{proxy="inference",state="UP"}, "region", "$1", "server", "(.+)-[0-9]+")) == 0`,
            "warning",
            "the gateway sees no healthy replica in a region",
            "0s",
          ),
          rule("ServiceDown", `sum(haproxy_server_status{proxy="inference",state="UP"}) == 0`, "critical", "the gateway sees no healthy replica anywhere: the whole service is down", "0s"),
          // the replicas answer a turn the store could not keep with 424, which the gateway's 5xx share does not count
          rule(
            "SessionWritesFailing",
            `sum(rate(inference_session_writes_total{result="failed"}[${w}s])) / clamp_min(sum(rate(inference_session_writes_total[${w}s])), 1e-9) * 100 > ${a.errorRateCriticalPct}`,
            "critical",
            `more than ${a.errorRateCriticalPct}% of conversation turns could not be kept in the session store`,
          ),
          rule(
            "SessionReplicationLag",
            `max(stack_session_replication_lag_seconds) > ${a.replicationLagSeconds}`,
            "warning",
            `a session replica is more than ${a.replicationLagSeconds}s behind its primary: a failover now would lose that much`,
            `${a.replicationLagForSeconds}s`,
          ),
          // the stack's own canary controller counts its rollbacks; Argo Rollouts (on kubernetes) reports an aborted Rollout in phase "Abort" (its rollout_info)
          rule("CanaryRolledBack", `increase(rollout_rollbacks_total[5m]) > 0 or max(rollout_info{phase="Abort"}) > 0`, "warning", "a canary was rolled back", "0s"),
        ],
      },
    ],
  };
}

/** The stack's two Alertmanager receivers: the pager (P0) and the team's chat (P1). */
export const RECEIVERS = { pager: "pager", chat: "chat" } as const;

/** Where the replicas run when they are Kubernetes pods (Prometheus finds them through the API server). */
export interface PodDiscovery {
  kubeconfig: string;
  namespace: string;
  servicePrefix: string;
  scrape?: { job: string; target: string }[];
}

/** The file the kubernetes gateway keeps its pods in for Prometheus (file_sd_configs), in the stack's folder. */
export const POD_TARGETS_FILE = "pod-targets.json";

/**
 * The replicas as scrape targets: a fixed list on the local stack; on kubernetes the pods that hold
 * the gateway's slots, which the gateway writes to POD_TARGETS_FILE as it follows the EndpointSlices
 * (Debian's Prometheus is built without Kubernetes discovery; file discovery picks changes up at once).
 */
function replicaJobs(replicas: readonly ReplicaSlot[], dir: string, k: PodDiscovery | undefined): unknown[] {
  // each replica's engine metrics, and its GPU's DCGM exporter fields on their own path (a job of their own, as a DaemonSet's would be)
  const both = (targets: Record<string, unknown>): unknown[] => [
    { job_name: "replicas", ...targets },
    { job_name: "dcgm", metrics_path: DCGM_PATH, ...targets },
  ];
  if (k === undefined) {
    return both({ static_configs: replicas.map((r) => ({ targets: [`127.0.0.1:${r.port}`], labels: { replica: r.name, region: r.region, zone: r.zone } })) });
  }
  return [
    ...both({ file_sd_configs: [{ files: [join(dir, POD_TARGETS_FILE)], refresh_interval: "5s" }] }),
    ...(k.scrape ?? []).map((s) => ({ job_name: s.job, static_configs: [{ targets: [s.target] }] })),
  ];
}

/** Each Redis node through one redis_exporter (its multi-target /scrape), read directly: the monitoring vantage point. */
function sessionJobs(l: SessionLayout | undefined): unknown[] {
  if (l === undefined) return [];
  return [
    {
      job_name: "redis",
      metrics_path: "/scrape",
      static_configs: l.nodes.map((n) => ({ targets: [`redis://127.0.0.1:${n.port}`], labels: { node: n.name, region: n.region } })),
      relabel_configs: [
        { source_labels: ["__address__"], target_label: "__param_target" },
        { target_label: "__address__", replacement: `127.0.0.1:${l.exporterPort}` },
      ],
    },
  ];
}

export function prometheusConfig(c: StackConfig, ports: Ports, replicas: readonly ReplicaSlot[], rulesFile: string, k?: PodDiscovery, session?: SessionLayout): string {
  const dir = dirname(rulesFile);
  // Prometheus durations take whole units: 1s, 900ms.
  const s = `${Math.round(c.prometheus.scrapeIntervalSeconds * 1000)}ms`;
  const timeout = `${Math.round(Math.max(0.5, c.prometheus.scrapeIntervalSeconds * 0.9) * 1000)}ms`;
  return stringify({
    global: { scrape_interval: s, evaluation_interval: s, scrape_timeout: timeout },
    rule_files: [rulesFile],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${ports.alertmanager}`] }] }] },
    scrape_configs: [
      ...replicaJobs(replicas, dir, k),
      { job_name: "gateway", static_configs: [{ targets: [`127.0.0.1:${ports.gatewayMetrics}`] }] },
      { job_name: "gateway-latency", metrics_path: "/gateway-metrics", static_configs: [{ targets: [`127.0.0.1:${ports.gatewayMetrics}`] }] },
      { job_name: "supervisor", static_configs: [{ targets: [`127.0.0.1:${ports.control}`] }] },
      ...(k === undefined ? [{ job_name: "rollout", static_configs: [{ targets: [`127.0.0.1:${ports.rollout}`] }] }] : []),
      ...sessionJobs(session),
      { job_name: "prometheus", static_configs: [{ targets: [`127.0.0.1:${ports.prometheus}`] }] },
      { job_name: "alertmanager", static_configs: [{ targets: [`127.0.0.1:${ports.alertmanager}`] }] },
    ],
  });
}

export function alertmanagerConfig(c: StackConfig): string {
  const wait = `${Math.max(0, c.alerting.groupWaitMs)}ms`;
  const url = c.alerting.webhookUrl;
  // routed by severity, as an on-call team routes: P0 pages, P1 goes to the team's chat; both
  // receivers are the run's webhook, which records the receiver Alertmanager names in the payload
  const hook = (name: string): Record<string, unknown> => ({ name, webhook_configs: [{ url, send_resolved: true, max_alerts: 0 }] });
  const receivers = url === undefined ? [{ name: "null" }] : [hook(RECEIVERS.chat), hook(RECEIVERS.pager)];
  return stringify({
    route: {
      receiver: url === undefined ? "null" : RECEIVERS.chat,
      group_by: ["alertname", "severity"],
      group_wait: wait,
      group_interval: "1s",
      repeat_interval: "1h",
      ...(url === undefined ? {} : { routes: [{ matchers: [`severity="${c.alerting.pagerSeverity}"`], receiver: RECEIVERS.pager }] }),
    },
    receivers,
  });
}
