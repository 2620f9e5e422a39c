import { z } from "zod";
import { Duration } from "./duration.ts";
import { Labels, Name, kindUnion, strictObject } from "./strict.ts";

/**
 * The catalog of fault kinds: one entry each, with its parameters, a line for the docs, and the
 * backends that can inject it in order of preference. The experiment schema, the JSON Schemas in
 * schemas/ and `faultline kinds` are built from it; lib/faults holds one module per kind and
 * backend, and its implementation table must match this list (the compiler checks it).
 *
 * Which backend serves a fault: the first in `backends` whose section the target has (toxiproxy,
 * stack or kubernetes). So region-outage is Toxiproxy partitions where the target routes through
 * Toxiproxy, and lost nodes on a cluster that has none.
 */

/** Where a fault is injected: each backend needs its section in the target (`load` is the run's own load generator, on every target). */
export const BACKENDS = ["toxiproxy", "stack", "kubernetes", "load"] as const;
export type BackendName = (typeof BACKENDS)[number];

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

function faultKind<const K extends string, const B extends readonly [BackendName, ...BackendName[]], P extends z.ZodType>(kind: K, def: { summary: string; backends: B; params: P }) {
  return { kind, ...def, schema: strictObject({ ...faultBase, kind: z.literal(kind), params: def.params }).meta({ description: def.summary }) };
}

/** A fault on the run's own clients: it selects nothing in the target. */
function clientFaultKind<const K extends string, const B extends readonly [BackendName, ...BackendName[]], P extends z.ZodType>(kind: K, def: { summary: string; backends: B; params: P }) {
  const { selector: _none, ...base } = faultBase;
  return { kind, ...def, schema: strictObject({ ...base, kind: z.literal(kind), params: def.params }).meta({ description: def.summary }) };
}

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

const rolloutParams = (version: string) =>
  strictObject({
    version: z.string().default(version),
    model: z.string().optional(),
    image: z.string().optional().meta({ description: "on kubernetes: also set the containers' image" }),
  }).prefault({});

export const FAULT_KINDS = [
  faultKind("latency", {
    summary: "delay on the matched Toxiproxy paths",
    backends: ["toxiproxy"],
    params: strictObject({
      latency: Duration,
      jitter: Duration.prefault("0ms"),
      direction: Direction.default("downstream"),
      toxicity: Toxicity.default(1),
    }),
  }),
  faultKind("bandwidth", {
    summary: "bandwidth cap on the matched Toxiproxy paths",
    backends: ["toxiproxy"],
    params: strictObject({
      rateKBps: z.number().int().nonnegative().meta({ description: "KB/s" }),
      direction: Direction.default("downstream"),
      toxicity: Toxicity.default(1),
    }),
  }),
  faultKind("partition", {
    summary: "the matched paths go dark (blackhole) or reset every connection",
    backends: ["toxiproxy"],
    params: strictObject({
      mode: z.enum(["blackhole", "reset"]).default("blackhole").meta({
        description: "blackhole: bytes vanish both ways and connections hang; reset: every connection is reset at once",
      }),
    }).prefault({}),
  }),
  faultKind("flaky-connection", {
    summary: "a share of connections reset",
    backends: ["toxiproxy"],
    params: strictObject({
      toxicity: Toxicity.default(0.1),
      after: Duration.prefault("0ms").meta({ description: "reset the connection this long after it opens" }),
      direction: Direction.default("downstream"),
    }).prefault({}),
  }),
  faultKind("toxic", {
    summary: "any Toxiproxy toxic, for cases the named kinds do not cover",
    backends: ["toxiproxy"],
    params: kindUnion(
      "type",
      [toxicParam("latency"), toxicParam("bandwidth"), toxicParam("slow_close"), toxicParam("timeout"), toxicParam("reset_peer"), toxicParam("slicer"), toxicParam("limit_data")],
      "toxic type",
    ),
  }),
  faultKind("stream-cut", {
    summary: "responses cut mid-way on the matched Toxiproxy paths (server to client): streams end without their last tokens, as a crashed worker, a proxy restart or a load balancer's idle cut leaves them",
    backends: ["toxiproxy"],
    params: strictObject({
      mode: z.enum(["bytes", "time"]).default("bytes").meta({
        description: "bytes: a connection is closed once it has carried `afterBytes` toward the client (Toxiproxy's limit_data; the gateway reuses connections, so the cut lands in whichever response crosses the mark); time: it is reset `after` it opens (reset_peer)",
      }),
      afterBytes: z.number().int().positive().default(4096),
      after: Duration.prefault("500ms"),
      toxicity: Toxicity.default(1),
    }).prefault({}),
  }),
  faultKind("region-outage", {
    summary: "every path into the selected region partitioned (Toxiproxy), or its nodes lost (a cluster without Toxiproxy)",
    backends: ["toxiproxy", "kubernetes"],
    params: strictObject({ mode: z.enum(["blackhole", "reset"]).default("blackhole") }).prefault({}),
  }),
  faultKind("node-loss", {
    summary: "nodes lost: kwok nodes NotReady or nodes drained (kubernetes), replica processes killed (stack)",
    backends: ["kubernetes", "stack"],
    params: strictObject({
      restart: z.boolean().default(false).meta({ description: "let the supervisor restart them (false: they stay down until reverted)" }),
      signal: z.enum(["SIGKILL", "SIGTERM"]).default("SIGKILL"),
      mode: z.enum(["not-ready", "drain"]).default("not-ready").meta({
        description: "on kubernetes: the node stops reporting Ready (kwok nodes), or is cordoned and drained (any cluster)",
      }),
    }).prefault({}),
  }),
  faultKind("zone-outage", {
    summary: "every node of a zone lost (the selector names the zone)",
    backends: ["kubernetes"],
    params: strictObject({ mode: z.enum(["not-ready", "drain"]).default("not-ready") }).prefault({}),
  }),
  faultKind("pod-kill", {
    summary: "pods deleted; their controller replaces them",
    backends: ["kubernetes"],
    params: strictObject({
      gracePeriodSeconds: z.number().int().min(0).default(0),
      namespace: z.string().optional().meta({ description: "default: the target's first allowed namespace" }),
    }).prefault({}),
  }),
  faultKind("network-partition", {
    summary: "a Chaos Mesh NetworkChaos partition between the selected pods and a target",
    backends: ["kubernetes"],
    params: strictObject({
      direction: z.enum(["to", "from", "both"]).default("both"),
      target: Labels.optional().meta({ description: "the pods on the other side (default: Chaos Mesh partitions the selected pods from everything)" }),
      namespace: z.string().optional().meta({ description: "default: the target's first allowed namespace" }),
    }).prefault({}),
  }),
  faultKind("process-kill", {
    summary: "replica processes signalled; the supervisor restarts them",
    backends: ["stack"],
    params: strictObject({ signal: z.enum(["SIGKILL", "SIGTERM"]).default("SIGKILL") }).prefault({}),
  }),
  faultKind("freeze", {
    summary: "replica processes stopped (SIGSTOP): up and accepting connections, answering nothing — a hung GPU or a stuck collective",
    backends: ["stack", "kubernetes"],
    params: strictObject({
      command: z.array(z.string()).min(1).optional().meta({
        description: "kubernetes target: exec this in each selected pod instead of stopping the simulated replica's server (found by its pod IP and port 8000), e.g. [pkill, -STOP, -f, EngineCore] to hang a vLLM engine behind its live API server; ${pod}, ${podIP} and ${namespace} are filled in. A container's PID 1 ignores SIGSTOP sent from inside it: stop a child process",
      }),
      revertCommand: z.array(z.string()).min(1).optional().meta({ description: "kubernetes target: exec'd on revert (SIGCONT); required with command" }),
      container: z.string().optional().meta({ description: "kubernetes target: the container to exec in (default: the pod's first)" }),
      namespace: z.string().optional().meta({ description: "kubernetes target: the pods' namespace (default: the target's first)" }),
    })
      .refine((p) => (p.command === undefined) === (p.revertCommand === undefined), { message: "command and revertCommand go together: a freeze must be undone", path: ["revertCommand"] })
      .prefault({}),
  }),
  faultKind("gpu-xid", {
    summary: "a replica's GPU reports an XID error and stops serving until it is reset (the revert); on Kubernetes its node can also be cordoned or tainted, as node remediation would",
    backends: ["stack", "kubernetes"],
    params: strictObject({
      xid: z.number().int().min(1).max(999).default(79).meta({ description: "the XID code the GPU reports: 79 fell off the bus, 48 double-bit ECC, 94/95 contained/uncontained ECC, 119 GSP timeout" }),
      remediate: z.enum(["none", "cordon", "taint"]).default("none").meta({
        description: "kubernetes target: what a node remediation controller does on the DCGM exporter's XID: cordon the pod's node (no new pods), or taint it faultline.dev/gpu-xid=<code>:NoExecute (its pods evicted and placed elsewhere); the revert clears it",
      }),
      remediateAfter: Duration.prefault("5s").meta({ description: "kubernetes target: how long after the XID the node is cordoned or tainted (a controller reacts to the exporter's field, not at once)" }),
      command: z.array(z.string()).min(1).optional().meta({ description: "kubernetes target: exec this in each selected pod instead of the simulated replica's XID call (e.g. a real node's fault injection); ${pod}, ${podIP} and ${namespace} are filled in" }),
      revertCommand: z.array(z.string()).min(1).optional().meta({ description: "kubernetes target: exec'd on revert (default: reset the simulated GPU); required with command" }),
      container: z.string().optional().meta({ description: "kubernetes target: the container to exec in (default: the pod's first)" }),
      namespace: z.string().optional().meta({ description: "kubernetes target: the pods' namespace (default: the target's first)" }),
    })
      .refine((p) => (p.command === undefined) === (p.revertCommand === undefined), { message: "command and revertCommand go together: an XID must be reset", path: ["revertCommand"] })
      .prefault({}),
  }),
  faultKind("gpu-oom", {
    summary: "a replica's GPU memory driven up in steps until it runs out",
    backends: ["stack", "kubernetes"],
    params: strictObject({
      rampTo: z.number().min(1).max(200).default(105).meta({ description: "percent of GPU memory to reach; above 100 means OOM" }),
      steps: z.number().int().min(1).max(100).default(10),
      stepEvery: Duration.prefault("2s"),
      command: z.array(z.string()).min(1).optional().meta({
        description: "kubernetes target: exec this in each selected pod's container instead of the simulated replica's pressure call, e.g. a CUDA allocation on a real GPU node; ${pod}, ${podIP} and ${namespace} are filled in",
      }),
      revertCommand: z.array(z.string()).min(1).optional().meta({ description: "kubernetes target: exec'd on revert (default: clear the simulated pressure)" }),
      container: z.string().optional().meta({ description: "kubernetes target: the container to exec in (default: the pod's first)" }),
      namespace: z.string().optional().meta({ description: "kubernetes target: the pods' namespace (default: the target's first)" }),
    }).prefault({}),
  }),
  faultKind("bad-rollout", {
    summary: "a regressed version rolled out (the stack's canary controller, or a Deployment's template)",
    backends: ["stack", "kubernetes"],
    params: rolloutParams("v2-bad"),
  }),
  clientFaultKind("surge", {
    summary: "the offered load multiplied for the fault's duration: a surge (or a dip, below 1) from the run's own builtin load",
    backends: ["load"],
    params: strictObject({ factor: z.number().gt(0).max(20).meta({ description: "× the load profile's rate, e.g. 3 for a surge to 300 %" }) }),
  }),
  clientFaultKind("kv-pressure", {
    summary: "a share of the run's own requests become long-context, long-output ones that fill the replicas' KV caches: preemptions, queueing, a growing time to first token",
    backends: ["load"],
    params: strictObject({
      share: z.number().gt(0).max(1).default(0.02).meta({ description: "share of the requests due that are long ones" }),
      promptTokens: z.number().int().positive().max(1_000_000).default(6000).meta({ description: "each long request's prompt, in tokens (about 4 characters each)" }),
      maxTokens: z.number().int().positive().max(4096).default(1024).meta({ description: "each long request's answer, in tokens: long answers grow their KV as they decode, which is what preempts (long prompts with short answers mostly queue)" }),
      stream: z.boolean().default(true).meta({ description: "the long answers stream token by token (as chat UIs and agents read them)" }),
      rampOver: Duration.prefault("0s").meta({ description: "the share grows linearly from 0 over this long, as a new workload's traffic does (0: all at once)" }),
    }).prefault({}),
  }),
  faultKind("rollout", {
    summary: "a good version rolled out: the change itself is the perturbation",
    backends: ["stack", "kubernetes"],
    params: rolloutParams("v2"),
  }),
] as const;

type Schemas<T extends readonly { schema: unknown }[]> = { -readonly [I in keyof T]: T[I]["schema"] };
// each entry's schema is a strict object with its kind literal: a discriminated union of them
export const Fault = kindUnion("kind", FAULT_KINDS.map((k) => k.schema) as unknown as Schemas<typeof FAULT_KINDS>, "fault kind");
export type Fault = z.infer<typeof Fault>;
export type FaultKind = Fault["kind"];
export type FaultOf<K extends FaultKind> = Extract<Fault, { kind: K }>;
/** A fault that selects what it hits in the target (all but the client-side kinds). */
export type SelectingFault = Extract<Fault, { selector: Selector }>;
type Entry = (typeof FAULT_KINDS)[number];
/** The backends a kind names in the catalog, as a type: the implementation table must cover exactly these. */
export type BackendsOf<K extends FaultKind> = Extract<Entry, { kind: K }>["backends"][number];

export function faultKindEntry(kind: FaultKind): Entry {
  return FAULT_KINDS.find((k) => k.kind === kind) as Entry;
}

export function faultName(f: Fault, index: number): string {
  return f.name ?? `${f.kind}-${index + 1}`;
}

/** The parameters a kind takes, by name, with those that must be given marked. */
function paramNames(params: z.ZodType): string {
  const js = z.toJSONSchema(params, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown>; required?: string[]; oneOf?: { properties?: Record<string, unknown> }[] };
  const props = js.properties ?? Object.assign({}, ...(js.oneOf ?? []).map((o) => o.properties ?? {}));
  const required = new Set(js.required ?? []);
  return Object.keys(props).map((k) => (required.has(k) ? `**${k}**` : k)).join(", ");
}

/** The catalog as a Markdown table (`faultline kinds`, docs/fault-kinds.md). */
export function faultKindsMarkdown(): string {
  const rows = FAULT_KINDS.map((k) => `| \`${k.kind}\` | ${k.backends.join(" → ")} | ${k.summary} | ${paramNames(k.params)} |`);
  return [
    "# Fault kinds",
    "",
    "Generated from the catalog (`lib/schema/faults.ts`) by `make schemas`; `faultline kinds` prints it.",
    "A fault runs on the first backend in its list whose section the target has (toxiproxy, stack, kubernetes).",
    "Parameters in bold must be given.",
    "",
    "| kind | backends | what it does | params |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}
