import { z } from "zod";
import { Duration } from "./duration.ts";
import { Labels, kindUnion, strictObject } from "./strict.ts";

export const API_VERSION = "faultline.dev/v1";

const Name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "expected lower-case letters, digits and '-' (like a DNS label)");

export const Metadata = strictObject({
  name: Name,
  description: z.string().optional(),
  labels: Labels.optional(),
  owner: z.string().optional(),
  runbook: z.url().optional().meta({ description: "runbook URL for the on-call engineer" }),
});

/** Chooses what a fault hits by label, never by port. */
export const Selector = strictObject({
  matchLabels: Labels.optional(),
  names: z.array(z.string()).min(1).optional(),
  count: z.number().int().positive().optional().meta({ description: "hit at most this many of the matches" }),
  percent: z.number().gt(0).max(100).optional().meta({ description: "hit this share of the matches (rounded up)" }),
}).refine((s) => s.matchLabels !== undefined || s.names !== undefined, {
  message: "a selector needs matchLabels or names",
});
export type Selector = z.infer<typeof Selector>;

export const Direction = z.enum(["upstream", "downstream", "both"]).meta({
  description: "upstream: client to server; downstream: server to client",
});
export type Direction = z.infer<typeof Direction>;

const Toxicity = z.number().min(0).max(1).meta({ description: "share of connections affected, 0..1" });

const faultBase = {
  name: Name.optional(),
  selector: Selector,
  at: Duration.prefault("0s").meta({ description: "offset from the start of the fault phase" }),
  duration: Duration.meta({ description: "how long the fault lasts; the engine reverts it then" }),
};

export const LatencyFault = strictObject({
  ...faultBase,
  kind: z.literal("latency"),
  params: strictObject({
    latency: Duration,
    jitter: Duration.prefault("0ms"),
    direction: Direction.default("downstream"),
    toxicity: Toxicity.default(1),
  }),
});

export const BandwidthFault = strictObject({
  ...faultBase,
  kind: z.literal("bandwidth"),
  params: strictObject({
    rateKBps: z.number().int().nonnegative().meta({ description: "KB/s" }),
    direction: Direction.default("downstream"),
    toxicity: Toxicity.default(1),
  }),
});

export const PartitionFault = strictObject({
  ...faultBase,
  kind: z.literal("partition"),
  params: strictObject({
    mode: z.enum(["blackhole", "reset"]).default("blackhole").meta({
      description: "blackhole: bytes vanish both ways and connections hang; reset: every connection is reset at once",
    }),
  }).prefault({}),
});

export const FlakyConnectionFault = strictObject({
  ...faultBase,
  kind: z.literal("flaky-connection"),
  params: strictObject({
    toxicity: Toxicity.default(0.1),
    after: Duration.prefault("0ms").meta({ description: "reset the connection this long after it opens" }),
    direction: Direction.default("downstream"),
  }).prefault({}),
});

const toxicAttrs = {
  latency: strictObject({ latency: Duration, jitter: Duration.prefault("0ms") }),
  bandwidth: strictObject({ rateKBps: z.number().int().nonnegative() }),
  slow_close: strictObject({ delay: Duration }),
  timeout: strictObject({ timeout: Duration }),
  reset_peer: strictObject({ timeout: Duration.prefault("0ms") }),
  slicer: strictObject({
    averageSize: z.number().int().positive(),
    sizeVariation: z.number().int().nonnegative().default(0),
    delay: Duration.prefault("0ms"),
  }),
  limit_data: strictObject({ bytes: z.number().int().positive() }),
};
export type ToxicType = keyof typeof toxicAttrs;

const toxicParam = <T extends ToxicType>(type: T) =>
  strictObject({
    type: z.literal(type),
    attributes: toxicAttrs[type],
    direction: Direction.default("downstream"),
    toxicity: Toxicity.default(1),
  });

/** Any Toxiproxy toxic, for cases the named kinds do not cover. */
export const ToxicFault = strictObject({
  ...faultBase,
  kind: z.literal("toxic"),
  params: kindUnion(
    "type",
    [
      toxicParam("latency"),
      toxicParam("bandwidth"),
      toxicParam("slow_close"),
      toxicParam("timeout"),
      toxicParam("reset_peer"),
      toxicParam("slicer"),
      toxicParam("limit_data"),
    ],
    "toxic type",
  ),
});

export const Fault = kindUnion(
  "kind",
  [LatencyFault, BandwidthFault, PartitionFault, FlakyConnectionFault, ToxicFault],
  "fault kind",
);
export type Fault = z.infer<typeof Fault>;
export type FaultKind = Fault["kind"];

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
  maxFailureRate: z.number().min(0).max(1).default(0).meta({
    description: "share of failed probe calls still counted as steady",
  }),
});

export const Phases = strictObject({
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

export const Assertion = kindUnion("kind", [ProbeAssertion], "assertion kind");
export type Assertion = z.infer<typeof Assertion>;

export const ProbeAbort = strictObject({
  kind: z.literal("probe"),
  probe: z.string(),
  failureRateAbove: z.number().min(0).max(1),
  for: Duration.meta({ description: "the failure rate must stay above the limit this long" }),
});

export const AbortCondition = kindUnion("kind", [ProbeAbort], "abort condition kind");
export type AbortCondition = z.infer<typeof AbortCondition>;

const RequestTemplate = strictObject({
  name: z.string(),
  weight: z.number().positive().default(1),
  path: z.string().startsWith("/").default("/v1/chat/completions"),
  model: z.string().default("sim-7b"),
  promptTokens: strictObject({ min: z.number().int().positive(), max: z.number().int().positive() }).prefault({ min: 32, max: 256 }),
  maxTokens: z.number().int().positive().default(64),
  streamShare: z.number().min(0).max(1).default(0),
});

export const LoadProfile = strictObject({
  engine: z.enum(["builtin", "k6"]).default("builtin"),
  endpoint: z.string().default("gateway"),
  rate: z.number().positive().meta({ description: "requests per second (open model)" }),
  stages: z.array(strictObject({ duration: Duration, target: z.number().nonnegative() })).optional(),
  maxInFlight: z.number().int().positive().default(10_000),
  timeout: Duration.prefault("10s"),
  mix: z.array(RequestTemplate).min(1).optional(),
});
export type LoadProfile = z.infer<typeof LoadProfile>;

export const Experiment = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("Experiment"),
  metadata: Metadata,
  hypothesis: z.string().optional(),
  target: z.string().optional().meta({ description: "target name or file; --target overrides it" }),
  phases: Phases.prefault({}),
  load: LoadProfile.optional(),
  steadyState: SteadyState.prefault({}),
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
  exp.assertions.forEach((a, i) => checkProbe(a.probe, ["assertions", i, "probe"]));
  exp.abortWhen.forEach((a, i) => checkProbe(a.probe, ["abortWhen", i, "probe"]));
});
export type Experiment = z.infer<typeof Experiment>;

export function faultName(f: Fault, index: number): string {
  return f.name ?? `${f.kind}-${index + 1}`;
}
