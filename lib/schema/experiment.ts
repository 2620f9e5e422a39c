import { z } from "zod";
import { Duration, formatDuration } from "./duration.ts";
import { Assertion, Threshold } from "./assertions.ts";
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

export * from "./assertions.ts";
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
  cancelShare: z.number().min(0).max(1).default(0).meta({ description: "share of streams the client cancels mid-way (a user pressing stop; builtin engine): it closes the connection after `cancelAfterTokens` tokens, and the replica should free the sequence's slot" }),
  cancelAfterTokens: z.number().int().positive().max(MAX_TOKENS).optional().meta({ description: "tokens received before a cancelling client leaves (default: half of maxTokens)" }),
  sessions: strictObject({
    count: z.number().int().positive().max(100_000).meta({ description: "conversations the template's requests take turns in (round-robin)" }),
    turns: z.number().int().min(0).default(0).meta({ description: "turns per conversation before it starts over as a new one (0: it goes on for the whole run)" }),
  }).optional().meta({ description: "requests are turns of conversations (builtin engine): each carries its session and turn, the server keeps the turn in its session store before answering and says so, and the run audits afterwards that every turn acknowledged is still there" }),
});

/** What a client does when a request fails: the retry policy of an SDK, a fault in its own right (a retry storm). */
export const RETRY_ON = ["5xx", "429", "timeout", "connError"] as const;
export const ClientRetry = strictObject({
  attempts: z.number().int().min(1).max(10).meta({ description: "retries after the first try (the OpenAI SDK's max_retries is 2)" }),
  backoff: Duration.prefault("0ms").meta({ description: "wait before the first retry; doubles for each next one" }),
  maxBackoff: Duration.prefault("10s"),
  jitter: z.enum(["full", "none"]).default("full").meta({ description: "full: each wait drawn from [0, backoff) (AWS's full jitter); none: every client retries in lockstep" }),
  on: z.array(z.enum(RETRY_ON)).min(1).default([...RETRY_ON]).meta({ description: "which failures are retried; `timeout` is the profile's timeout, per try" }),
});
export type ClientRetry = z.infer<typeof ClientRetry>;

/** The k6 engine distributed over runner pods by the k6-operator (engine: k6-operator). */
export const DistributedLoad = strictObject({
  parallelism: z.number().int().min(1).max(1000).meta({ description: "runner pods; each takes its share of the arrival rate" }),
  namespace: z.string().default("default").meta({ description: "where the TestRun and its script's ConfigMap go (must be in the target's allow-list)" }),
  prometheus: z.url().meta({ description: "the Prometheus (remote-write receiver on) that faultline reads the results from" }),
  remoteWrite: z.url().optional().meta({ description: "where the runners push, as the cluster reaches it (default: prometheus + /api/v1/write)" }),
  runnerImage: z.string().optional(),
});
export type DistributedLoad = z.infer<typeof DistributedLoad>;

/** Requests of another shape mixed into a running load: long contexts and long answers that fill a KV cache. */
export interface LoadOverlay {
  share: number;
  promptTokens: number;
  maxTokens: number;
  /** answers streamed token by token, as a chat UI or an agent reads them */
  stream: boolean;
  /** the share grows linearly from 0 over this long (0: all at once) */
  rampMs: number;
}

export const LoadProfile = strictObject({
  engine: z.enum(LOAD_ENGINES).default("builtin").meta({ description: "builtin (an open-model generator in faultline), k6, or k6-operator (k6 on runner pods in a cluster)" }),
  distributed: DistributedLoad.optional().meta({ description: "engine k6-operator: the TestRun's parallelism and where results are read" }),
  endpoint: z.string().default("gateway"),
  rate: z.number().positive().max(MAX_RATE).meta({ description: `requests per second (open model), at most ${MAX_RATE}` }),
  stages: z.array(strictObject({ duration: Duration, target: z.number().nonnegative().max(MAX_RATE) })).optional(),
  maxInFlight: z.number().int().positive().max(MAX_RATE).default(10_000),
  timeout: Duration.prefault("10s").meta({ description: "a client gives up on a try this long after it was due" }),
  retry: ClientRetry.optional().meta({ description: "clients retry failed requests (builtin engine); each retry carries x-retry-attempt, as gRPC's grpc-previous-rpc-attempts" }),
  mix: z.array(RequestTemplate).min(1).optional(),
})
  .refine((l) => l.engine !== "k6-operator" || l.distributed !== undefined, { message: "engine k6-operator needs a distributed: section (parallelism, prometheus)", path: ["distributed"] })
  .refine((l) => l.retry === undefined || l.engine === "builtin", { message: "client retries need the builtin engine", path: ["retry"] })
  .superRefine((l, ctx) => {
    l.mix?.forEach((t, i) => {
      if (t.sessions !== undefined && l.engine !== "builtin") ctx.addIssue({ code: "custom", path: ["mix", i, "sessions"], message: "conversations (sessions) need the builtin engine: it keeps what each turn was told" });
      if (t.cancelShare === 0) return;
      if (l.engine !== "builtin") ctx.addIssue({ code: "custom", path: ["mix", i, "cancelShare"], message: "cancelling streams needs the builtin engine" });
      if (t.streamShare === 0) ctx.addIssue({ code: "custom", path: ["mix", i, "cancelShare"], message: "only streams are cancelled mid-way: give the template a streamShare" });
      if (t.cancelAfterTokens !== undefined && t.cancelAfterTokens >= t.maxTokens) ctx.addIssue({ code: "custom", path: ["mix", i, "cancelAfterTokens"], message: `must be below maxTokens (${t.maxTokens}): a stream cancelled after its last token was not cancelled` });
    });
  });
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
  stack: strictObject({
    set: z.array(z.string().regex(/^[^=]+=/, "expected key=value")).default([]).meta({ description: "stack settings (as --stack-set) this experiment needs, e.g. a TrafficAnomaly window shortened to fit its run; applied where faultline starts the stack (local, testcontainers, kubernetes), recorded in the run's timeline, overridden by --stack-set" }),
  }).optional(),
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
    if (a.kind === "failover") {
      const lasts = exp.faults.find((x, j) => faultName(x, j) === a.fault)?.duration;
      if (lasts !== undefined && lasts < a.within + a.sustain) {
        const s = formatDuration;
        ctx.addIssue({
          code: "custom",
          path: ["assertions", i, "within"],
          message: `fault "${a.fault}" lasts ${s(lasts)}, less than within (${s(a.within)}) + sustain (${s(a.sustain)}): a failover that settles late but in time could not be told from one that never does. Make the fault at least ${s(a.within + a.sustain)}, or within at most ${s(Math.max(0, lasts - a.sustain))}`,
        });
      }
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
