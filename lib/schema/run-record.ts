/**
 * run.json, version 1: everything a run recorded, enough to re-judge and re-render it offline.
 * Times are milliseconds since the Unix epoch.
 */
import type { LoadSeries } from "./series.ts";

export const RUN_SCHEMA_VERSION = 1;

/**
 * `inconclusive`: the instrument could not tell — the load generator stalled, the host was starved by
 * other work, or too few samples for what was asked. Never a pass, never a fail: run it again.
 */
export type Verdict = "pass" | "fail" | "inconclusive" | "aborted" | "error";
export type CheckVerdict = "pass" | "fail" | "inconclusive";
export type PhaseId = "warmup" | "baseline" | "fault" | "recovery";

export interface TimelineEvent {
  t: number;
  type: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface ProbeSample {
  t: number;
  ok: boolean;
  ms: number;
  status?: number;
  error?: string;
}

export interface ActionRecord {
  id: string;
  description: string;
  injectedAt?: number;
  revertedAt?: number;
  error?: string;
}

export interface FaultRecord {
  name: string;
  kind: string;
  targets: string[];
  /** the selector's labels (region, zone): which region a failover moves away from */
  labels: Record<string, string>;
  plannedAt: number;
  plannedDuration: number;
  injectedAt?: number;
  revertedAt?: number;
  actions: ActionRecord[];
}

export interface AssertionResult {
  name: string;
  kind: string;
  verdict: CheckVerdict;
  measured: number | null;
  limit: number | null;
  unit?: string;
  window: { start: number; end: number };
  message: string;
  evidence: unknown[];
  /** the same measurement taken from another side of the wire (the failover time by the gateway's own record) */
  crossCheck?: CrossCheck;
}

export interface CrossCheck {
  by: string;
  /** null: that side saw the check's condition never hold */
  measured: number | null;
  message: string;
}

/**
 * The gateway's own record (HAProxy, through the stack's Lua), per 100 ms of the time it accepted
 * each request: how many it accepted, answered below 400 (and from which region), and how long
 * each answer took, by slot. An accepted request with no answer is one the gateway failed or the
 * client gave up on.
 */
export interface GatewayRecord {
  bucketMs: number;
  /** upper bounds of the answer-time slots (ms); one slot more counts answers beyond the last */
  boundsMs: number[];
  buckets: GatewayBucket[];
}

export interface GatewayBucket {
  t: number;
  accepted: number;
  ok: number;
  regions: Record<string, number>;
  /** answers per slot of `boundsMs` (the last: beyond them) */
  answered: number[];
}

/**
 * The host's CPU over one sample (about a second), in cores: everything busy, faultline itself, the
 * system under test (the stack's and the cluster's processes, when faultline started them), the
 * kernel's interrupt work (irq and softirq: everyone's network receive path), and the rest — other
 * work that starves the system and the generator alike.
 */
export interface HostSample {
  t: number;
  cores: number;
  busy: number;
  own: number;
  /** absent in runs recorded before it was kept apart (their `other` holds it) */
  irq?: number;
  sut?: number;
  other?: number;
}

/**
 * Where the stack's time went, once a second, read from the target's Prometheus: the gateway's
 * average queue, connect and response times over its last 1,024 requests (ms) and the requests in
 * its queue; the replicas' p99 wait for a batch slot (ms), the requests waiting there, and the
 * requests they shed a second. A field is absent when the target does not export it.
 */
export interface StackSample {
  t: number;
  gatewayQueueMs?: number;
  gatewayConnectMs?: number;
  gatewayResponseMs?: number;
  gatewayQueued?: number;
  /** ms a second the gateway's threads were kept off a CPU while they had work (HAProxy's own count): what the host took from it */
  gatewayStolenMs?: number;
  replicaQueueP99Ms?: number;
  replicaQueued?: number;
  shedPerSecond?: number;
  /** requests reaching replicas, retries included: ÷ what clients meant to send = retry amplification */
  replicaRequestsPerSecond?: number;
  /** the session store's worst replica lag, seconds (its heartbeat) */
  replicationLagSeconds?: number;
  /** the seed's three stages, p99 over the replicas (ms): what the stage budgets judge */
  tokenizationP99Ms?: number;
  inferenceP99Ms?: number;
  postprocessingP99Ms?: number;
  /** the fullest KV cache (vllm:kv_cache_usage_perc × 100) */
  kvCacheUsagePct?: number;
  /** sequences the engines preempted for want of KV blocks, per second (vllm:num_preemptions_total) */
  preemptionsPerSecond?: number;
  /** time to first token, p99 over the replicas, ms (vllm:time_to_first_token_seconds) */
  ttftP99Ms?: number;
  /** the GPUs' mean utilisation (DCGM_FI_DEV_GPU_UTIL, %) */
  gpuUtilPct?: number;
  /** GPUs reporting an XID error (DCGM_FI_DEV_XID_ERRORS > 0) */
  gpusWithXid?: number;
  /** each region's replicas, server-side */
  regions?: Record<string, RegionSample>;
}

export interface RegionSample {
  requestsPerSecond?: number;
  /** responses other than 2xx (429 sheds included) */
  errorsPerSecond?: number;
  /** time from request received to last byte, successful requests */
  p99Ms?: number;
}

export interface RunRecord {
  schemaVersion: typeof RUN_SCHEMA_VERSION;
  runId: string;
  experiment: { name: string; file?: string; hypothesis?: string; description?: string };
  target: { name: string; file?: string };
  startedAt: number;
  endedAt?: number;
  verdict?: Verdict;
  reason?: string;
  timeScale: number;
  phases: { name: PhaseId; start: number; end?: number }[];
  faults: FaultRecord[];
  assertions: AssertionResult[];
  timeline: TimelineEvent[];
  series: { probes: Record<string, ProbeSample[]>; load?: LoadSeries; host?: HostSample[]; stack?: StackSample[]; gateway?: GatewayRecord };
  /** versions of what ran: faultline, node, the stack config */
  /** the session audit (lib/judge/sessions.ts): acknowledged turns looked up in the store after the run */
  sessions?: SessionAudit;
  environment?: Record<string, unknown>;
  /** The validated experiment (durations in ms) and its YAML, so a stored run can be re-judged and reported. */
  spec?: unknown;
  source?: string;
  /** `faultline calibrate`: the faults were planned, not injected */
  calibration?: boolean;
}

/** Every turn acknowledged to a client, looked up in the session store once the run is over. */
export interface SessionAudit {
  checkedAt: number;
  sessions: number;
  acknowledged: number;
  lost: number;
  /** the first 100 lost turns, oldest first */
  lostTurns: { session: string; turn: number; t: number }[];
  /** the newest acknowledged write that was kept before the first lost one (epoch ms) */
  recoveryPoint?: number;
  newestLost?: number;
  /** newestLost − recoveryPoint: the span of acknowledged writes lost (0 when none; null when the store could not be read) */
  rpoMs: number | null;
  error?: string;
}
