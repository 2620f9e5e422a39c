import { z } from "zod";
import { Duration } from "./duration.ts";
import { Labels, Name, kindUnion, strictObject } from "./strict.ts";

/** The assertions an experiment can make: each judged by a pure function of the recorded run (lib/judge). */

/** Threshold on the client-side load series, in k6's grammar (lib/schema/threshold.ts). */
export const Threshold = z.string().meta({ description: "METRIC: EXPR, e.g. 'http_req_failed: rate < 0.01', 'http_req_duration: p(99) < 500ms'" });

export const PhaseName = z.enum(["baseline", "fault", "recovery", "run"]);
export type PhaseName = z.infer<typeof PhaseName>;

export const ProbeAssertion = strictObject({
  kind: z.literal("probe"),
  name: Name,
  probe: z.string(),
  during: PhaseName.default("run"),
  minSuccessRate: z.number().min(0).max(1).optional(),
  maxLatency: Duration.optional().meta({ description: "every successful call answers within this" }),
});

const Window = PhaseName.default("run");

export const FailoverAssertion = strictObject({
  kind: z.literal("failover"),
  name: Name,
  fault: z.string().meta({ description: "the fault whose effect starts the clock (t0 = when it took effect)" }),
  within: Duration.prefault("30s"),
  maxErrorRate: z.number().min(0).max(1).default(0.01),
  sustain: Duration.prefault("5s").meta({ description: "how long every condition must hold for failover to count as done" }),
  maxFaultedShare: z.number().min(0).max(1).default(0.01).meta({ description: "share of successful responses the faulted region may still serve" }),
  region: z.string().optional().meta({ description: "the faulted region (default: the fault selector's region label)" }),
  maxP99: Duration.prefault("500ms").meta({ description: "p99 over the sustain window must be under this (the latency SLO)" }),
});

export const AlertAssertion = strictObject({
  kind: z.literal("alert"),
  name: Name,
  alert: z.string(),
  labels: Labels.optional(),
  fault: z.string().optional().meta({ description: "measure `within` from this fault's t0 and `resolvesWithin` from its revert" }),
  fires: z.boolean().default(true),
  within: Duration.prefault("60s").meta({ description: "it must fire this soon after the fault's t0 (not time-scaled: Prometheus' windows are not); a silence fails only when the run watched all of it, and is inconclusive when the run ended sooner" }),
  severity: z.string().optional(),
  delivered: z.boolean().default(false).meta({ description: "also require the Alertmanager webhook notification" }),
  receiver: z.string().min(1).optional().meta({ description: "the notification must come through this Alertmanager receiver (the local stack's: pager for critical, chat for the rest); implies delivered" }),
  resolvesWithin: Duration.optional(),
  before: z.string().optional().meta({ description: "must first fire before this other alert first fires (an early warning)" }),
  beforeErrors: z.number().min(0).max(1).optional().meta({ description: "must first fire before the clients' error rate over a second first passes this share (from the run's load, counted from the clock's start): a warning that comes before the users notice" }),
  during: Window.meta({ description: "with fires: false, the window in which it must not fire" }),
});

export const NoUnexpectedAlertsAssertion = strictObject({
  kind: z.literal("no-unexpected-alerts"),
  name: Name,
  during: Window,
  ignore: z.array(z.string()).default([]),
});

export const RollbackAssertion = strictObject({
  kind: z.literal("rollback"),
  name: Name,
  fault: z.string().meta({ description: "the bad-rollout fault" }),
  within: Duration.prefault("60s"),
  settleWithin: Duration.prefault("30s").meta({ description: "after the rollback, error rate and p95 back within tolerance within this" }),
  errorRateTolerance: z.number().min(0).max(1).default(0.01).meta({ description: "absolute: baseline error rate + this" }),
  p95Ratio: z.number().min(1).default(1.5).meta({ description: "p95 at most baseline p95 × this" }),
  stableVersion: z.string().optional().meta({ description: "default: the version that served the baseline" }),
  alert: z.string().optional().meta({ description: "an alert that must fire once rolled back, e.g. CanaryRolledBack" }),
  budget: Duration.optional().meta({ description: "the rollback budget: from the analysis failing (or, without one, the roll-back) to only the stable version serving, at most this (the seed's: under a minute)" }),
});

export const PromotionAssertion = strictObject({
  kind: z.literal("promotion"),
  name: Name,
  fault: z.string().meta({ description: "the rollout fault" }),
  within: Duration.prefault("60s"),
  version: z.string().optional().meta({ description: "the version that must serve everything afterwards, as in x-faultline-version (default: any single new one)" }),
});

export const TrafficSplitAssertion = strictObject({
  kind: z.literal("traffic-split"),
  name: Name,
  during: Window,
  lastSeconds: z.number().positive().optional().meta({ description: "judge only the end of the window" }),
  expect: z.record(z.string(), z.number().min(0).max(1)).meta({ description: "region → share of successful responses" }),
  tolerance: z.number().min(0).max(1).default(0.05),
});

export const SloAssertion = strictObject({
  kind: z.literal("slo"),
  name: Name,
  during: Window,
  availability: z.number().min(0).max(1).optional(),
  p50: Duration.optional(),
  p95: Duration.optional(),
  p99: Duration.optional(),
  ttftP99: Duration.optional(),
});

export const ThresholdAssertion = strictObject({
  kind: z.literal("threshold"),
  name: Name,
  threshold: Threshold,
  during: Window,
});

/** Kubernetes: every replica the fault took is Ready again (elsewhere) within `within`. */
export const RescheduledAssertion = strictObject({
  kind: z.literal("rescheduled"),
  name: Name,
  fault: z.string().meta({ description: "the clock starts when this fault took effect; its nodes count as lost" }),
  within: Duration.prefault("60s"),
  replicas: z.number().int().positive().optional().meta({ description: "Ready replicas to get back to (default: as many as were Ready when the fault hit)" }),
});

/** Kubernetes: the GPU capacity left on usable nodes stays at least `minRatio` × what the workload requests. */
export const CapacityAssertion = strictObject({
  kind: z.literal("capacity"),
  name: Name,
  fault: z.string().optional().meta({ description: "judge while this fault is active (default: the fault phase)" }),
  minRatio: z.number().positive().default(1.5).meta({ description: "GPUs allocatable on Ready, schedulable nodes ÷ GPUs the workload requests" }),
});

/** Retry amplification: requests that reached replicas (retries included) ÷ the requests clients meant to send. */
export const AmplificationAssertion = strictObject({
  kind: z.literal("amplification"),
  name: Name,
  during: PhaseName.default("fault"),
  max: z.number().min(1).meta({ description: "at most this many requests reach the replicas per request a client meant to send" }),
});

/** Goodput: successful requests per second, against the load offered. */
export const GoodputAssertion = strictObject({
  kind: z.literal("goodput"),
  name: Name,
  during: PhaseName.default("fault"),
  minShare: z.number().min(0).max(1).optional().meta({ description: "successful requests ÷ requests offered" }),
  minPerSecond: z.number().min(0).optional().meta({ description: "successful requests per second" }),
}).refine((a) => a.minShare !== undefined || a.minPerSecond !== undefined, { message: "give minShare, minPerSecond or both" });

/** The regions a fault did not touch keep their SLO while it holds: a server-side view, per region. */
export const NoCascadeAssertion = strictObject({
  kind: z.literal("no-cascade"),
  name: Name,
  fault: z.string().meta({ description: "judged while this fault is in effect; its region is left out" }),
  region: z.string().optional().meta({ description: "the faulted region (default: the fault selector's region label)" }),
  maxP99: Duration.prefault("500ms").meta({ description: "each other region's replicas' p99, per second" }),
  maxErrorRate: z.number().min(0).max(1).default(0.01).meta({ description: "each other region's share of non-2xx responses (sheds included) over the window" }),
  tolerance: z.number().min(0).max(1).default(0.1).meta({ description: "share of seconds a region's p99 may exceed maxP99 (one slow second is noise, a trend is a cascade)" }),
});

/** Recovery point: what the session audit found lost of the turns acknowledged to clients (a load with `sessions`). */
export const RpoAssertion = strictObject({
  kind: z.literal("rpo"),
  name: Name,
  within: Duration.prefault("1m").meta({ description: "the acknowledged writes lost may span at most this: from the newest write kept before the first loss to the newest lost (the seed: under a minute)" }),
  maxLost: z.number().int().min(0).optional().meta({ description: "…and number at most this (0: every acknowledged turn survives)" }),
});

/** Recovery time as clients see it: writes to the session store succeed again this soon after the fault. */
export const RtoAssertion = strictObject({
  kind: z.literal("rto"),
  name: Name,
  fault: z.string().meta({ description: "the clock starts when this fault took effect; writes must come back while it still holds (coming back with the heal is no recovery)" }),
  within: Duration.prefault("5m").meta({ description: "the seed: under five minutes" }),
  minSuccess: z.number().min(0).max(1).default(0.95).meta({ description: "a second whose turns were acknowledged at least this often counts as writes succeeding" }),
});

/** Replication lag of the session store, as its heartbeat measures it (stack_session_replication_lag_seconds). */
export const ReplicationLagAssertion = strictObject({
  kind: z.literal("replication-lag"),
  name: Name,
  max: Duration.meta({ description: "the largest lag of any replica, sampled every second" }),
  during: PhaseName.default("run"),
  atLeast: z.boolean().default(false).meta({ description: "true: the lag must reach `max` at some point (a fault meant to slow replication did)" }),
});

export const Assertion = kindUnion(
  "kind",
  [ProbeAssertion, FailoverAssertion, AlertAssertion, NoUnexpectedAlertsAssertion, RollbackAssertion, PromotionAssertion, SloAssertion, ThresholdAssertion, TrafficSplitAssertion, RescheduledAssertion, CapacityAssertion, AmplificationAssertion, GoodputAssertion, NoCascadeAssertion, RpoAssertion, RtoAssertion, ReplicationLagAssertion],
  "assertion kind",
);
export type Assertion = z.infer<typeof Assertion>;

