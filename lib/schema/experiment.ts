import { z } from "zod";
import { Duration } from "./duration.ts";
import { Fault, faultName } from "./faults.ts";
import { thresholdError } from "./threshold.ts";
import { Labels, Name, kindUnion, strictObject } from "./strict.ts";

export const API_VERSION = "faultline.dev/v1";

export const Metadata = strictObject({
  name: Name,
  description: z.string().optional(),
  labels: Labels.optional(),
  owner: z.string().optional(),
  runbook: z.url().optional().meta({ description: "runbook URL for the on-call engineer" }),
});

export { Fault, FAULT_KINDS, Selector, faultName } from "./faults.ts";
export type { FaultKind, FaultOf } from "./faults.ts";

export const HttpProbe = strictObject({
  name: Name,
  endpoint: z.string().meta({ description: "a logical endpoint name from the target file" }),
  path: z.string().startsWith("/").default("/"),
  method: z.enum(["GET", "HEAD", "POST"]).default("GET"),
  body: z.string().optional(),
  expectStatus: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
  timeout: Duration.prefault("1s"),
  every: Duration.prefault("1s"),
});
export type HttpProbe = z.infer<typeof HttpProbe>;

/** k6-style threshold on the client-side load series: `http_req_duration: p(99) < 500ms`, `http_req_failed: rate < 0.01`. */
export const Threshold = z.string().meta({ description: "METRIC: EXPR, e.g. 'http_req_failed: rate < 0.01', 'http_req_duration: p(99) < 500ms'" });

export const SteadyState = strictObject({
  probes: z.array(HttpProbe).default([]),
  thresholds: z.array(Threshold).default([]).meta({ description: "judged on the load series over the baseline (and again after recovery)" }),
  maxFailureRate: z.number().min(0).max(1).default(0).meta({
    description: "share of failed probe calls still counted as steady",
  }),
});

export const Phases = strictObject({
  warmup: Duration.prefault("5s").meta({
    description: "load runs but nothing is judged: connections, caches and JIT warm up before the baseline",
  }),
  baseline: Duration.prefault("10s").meta({ description: "steady state must hold here before any fault" }),
  recovery: Duration.prefault("10s").meta({ description: "watched after every fault is reverted" }),
});

const PhaseName = z.enum(["baseline", "fault", "recovery", "run"]);
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
  within: Duration.prefault("60s"),
  severity: z.string().optional(),
  delivered: z.boolean().default(false).meta({ description: "also require the Alertmanager webhook notification" }),
  resolvesWithin: Duration.optional(),
  before: z.string().optional().meta({ description: "must first fire before this other alert first fires (an early warning)" }),
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

export const Assertion = kindUnion(
  "kind",
  [ProbeAssertion, FailoverAssertion, AlertAssertion, NoUnexpectedAlertsAssertion, RollbackAssertion, PromotionAssertion, SloAssertion, ThresholdAssertion, TrafficSplitAssertion, RescheduledAssertion, CapacityAssertion],
  "assertion kind",
);
export type Assertion = z.infer<typeof Assertion>;

export const ProbeAbort = strictObject({
  kind: z.literal("probe"),
  probe: z.string(),
  failureRateAbove: z.number().min(0).max(1),
  for: Duration.meta({ description: "the failure rate must stay above the limit this long" }),
});

export const ErrorRateAbort = strictObject({
  kind: z.literal("error-rate"),
  above: z.number().min(0).max(1),
  for: Duration,
});

export const PromqlAbort = strictObject({
  kind: z.literal("promql"),
  expr: z.string().meta({ description: "aborts while the expression returns a non-empty result" }),
  for: Duration.prefault("0s"),
});

export const AbortCondition = kindUnion("kind", [ProbeAbort, ErrorRateAbort, PromqlAbort], "abort condition kind");
export type AbortCondition = z.infer<typeof AbortCondition>;

/** The load engines (lib/load/registry.ts has one for each). */
export const LOAD_ENGINES = ["builtin", "k6", "k6-operator"] as const;
export type LoadEngineName = (typeof LOAD_ENGINES)[number];

/** The highest request rate (and in-flight cap) a load profile may ask for: 100 × the seed's 10,000 req/s. */
export const MAX_RATE = 1_000_000;
/** Prompt and output lengths: a million tokens is past any model's context. */
const MAX_TOKENS = 1_000_000;

const RequestTemplate = strictObject({
  name: z.string(),
  weight: z.number().positive().default(1),
  path: z.string().startsWith("/").default("/v1/chat/completions"),
  model: z.string().default("sim-7b"),
  promptTokens: strictObject({ min: z.number().int().positive().max(MAX_TOKENS), max: z.number().int().positive().max(MAX_TOKENS) }).prefault({ min: 32, max: 256 }),
  maxTokens: z.number().int().positive().max(MAX_TOKENS).default(64),
  streamShare: z.number().min(0).max(1).default(0),
});

/** The k6 engine distributed over runner pods by the k6-operator (engine: k6-operator). */
export const DistributedLoad = strictObject({
  parallelism: z.number().int().min(1).max(1000).meta({ description: "runner pods; each takes its share of the arrival rate" }),
  namespace: z.string().default("default").meta({ description: "where the TestRun and its script's ConfigMap go (must be in the target's allow-list)" }),
  prometheus: z.url().meta({ description: "the Prometheus (remote-write receiver on) that faultline reads the results from" }),
  remoteWrite: z.url().optional().meta({ description: "where the runners push, as the cluster reaches it (default: prometheus + /api/v1/write)" }),
  runnerImage: z.string().optional(),
});
export type DistributedLoad = z.infer<typeof DistributedLoad>;

export const LoadProfile = strictObject({
  engine: z.enum(LOAD_ENGINES).default("builtin").meta({ description: "builtin (an open-model generator in faultline), k6, or k6-operator (k6 on runner pods in a cluster)" }),
  distributed: DistributedLoad.optional().meta({ description: "engine k6-operator: the TestRun's parallelism and where results are read" }),
  endpoint: z.string().default("gateway"),
  rate: z.number().positive().max(MAX_RATE).meta({ description: `requests per second (open model), at most ${MAX_RATE}` }),
  stages: z.array(strictObject({ duration: Duration, target: z.number().nonnegative().max(MAX_RATE) })).optional(),
  maxInFlight: z.number().int().positive().max(MAX_RATE).default(10_000),
  timeout: Duration.prefault("10s"),
  mix: z.array(RequestTemplate).min(1).optional(),
}).refine((l) => l.engine !== "k6-operator" || l.distributed !== undefined, { message: "engine k6-operator needs a distributed: section (parallelism, prometheus)", path: ["distributed"] });
export type LoadProfile = z.infer<typeof LoadProfile>;

export const ParamValue = z.union([z.string(), z.number(), z.boolean()]);
export type ParamValue = z.infer<typeof ParamValue>;

/** A reference to a reusable scenario (lib/loader/scenarios.ts): its faults and assertions are appended to the experiment's. */
export const ScenarioUse = strictObject({
  use: z.string().min(1).meta({ description: "a scenario name (scenarios/<name>.yaml beside or above the experiment's folder) or a path relative to the experiment" }),
  with: z.record(z.string(), ParamValue).default({}).meta({ description: "the scenario's parameters" }),
});

export const Experiment = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("Experiment"),
  metadata: Metadata,
  hypothesis: z.string().optional(),
  target: z.string().optional().meta({ description: "target name or file; --target overrides it" }),
  phases: Phases.prefault({}),
  load: LoadProfile.optional(),
  steadyState: SteadyState.prefault({}),
  scenarios: z.array(ScenarioUse).default([]).meta({ description: "reusable faults and assertions from scenarios/, appended to the experiment's own" }),
  faults: z.array(Fault).default([]),
  assertions: z.array(Assertion).default([]),
  abortWhen: z.array(AbortCondition).default([]),
}).superRefine((exp, ctx) => {
  const seen = new Set<string>();
  exp.faults.forEach((f, i) => {
    const name = f.name ?? `${f.kind}-${i + 1}`;
    if (seen.has(name)) ctx.addIssue({ code: "custom", path: ["faults", i, "name"], message: `duplicate fault name "${name}"` });
    seen.add(name);
  });
  const assertionNames = new Set<string>();
  exp.assertions.forEach((a, i) => {
    if (assertionNames.has(a.name)) ctx.addIssue({ code: "custom", path: ["assertions", i, "name"], message: `duplicate assertion name "${a.name}"` });
    assertionNames.add(a.name);
  });
  const probes = new Set(exp.steadyState.probes.map((p) => p.name));
  const checkProbe = (probe: string, path: (string | number)[]): void => {
    if (!probes.has(probe)) {
      ctx.addIssue({
        code: "custom",
        path,
        message: `no probe named "${probe}" in steadyState.probes${probes.size ? ` (have: ${[...probes].join(", ")})` : ""}`,
      });
    }
  };
  const faults = new Set(exp.faults.map((f, i) => faultName(f, i)));
  exp.assertions.forEach((a, i) => {
    if (a.kind === "probe") checkProbe(a.probe, ["assertions", i, "probe"]);
    const f = "fault" in a ? a.fault : undefined;
    if (f !== undefined && !faults.has(f)) {
      ctx.addIssue({ code: "custom", path: ["assertions", i, "fault"], message: `no fault named "${f}" (have: ${[...faults].join(", ") || "none"})` });
    }
    if (a.kind === "threshold") {
      const err = thresholdError(a.threshold);
      if (err) ctx.addIssue({ code: "custom", path: ["assertions", i, "threshold"], message: err });
    }
  });
  exp.steadyState.thresholds.forEach((t, i) => {
    const err = thresholdError(t);
    if (err) ctx.addIssue({ code: "custom", path: ["steadyState", "thresholds", i], message: err });
  });
  exp.abortWhen.forEach((a, i) => {
    if (a.kind === "probe") checkProbe(a.probe, ["abortWhen", i, "probe"]);
  });
  const needsLoad = exp.assertions.some((a) => ["failover", "rollback", "promotion", "slo", "threshold", "traffic-split"].includes(a.kind)) || exp.steadyState.thresholds.length > 0;
  if (needsLoad && exp.load === undefined) {
    ctx.addIssue({ code: "custom", path: ["load"], message: "failover, rollback, slo and threshold assertions and steady-state thresholds judge the load series: add a load: profile" });
  }
});
export type Experiment = z.infer<typeof Experiment>;
