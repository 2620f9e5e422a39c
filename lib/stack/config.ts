import { Document, LineCounter, parse as parseYamlValue } from "yaml";
import { z } from "zod";
import { FaultlineError, ValidationError, errorMessage } from "../errors.ts";
import { problemsFromIssues } from "../loader/documents.ts";
import { strictObject } from "../schema/strict.ts";
import { parseYaml, readDocumentFile } from "../loader/yaml.ts";
import { quote } from "../text.ts";


const Pct = z.number().min(0);

/** HAProxy's retry-on conditions (its documentation, "retry-on"). */
const RETRY_ON = ["none", "conn-failure", "empty-response", "junk-response", "response-timeout", "0rtt-rejected", "404", "408", "425", "500", "501", "502", "503", "504", "all-retryable-errors"] as const;

export const Regression = strictObject({
  errorRate: z.number().min(0).max(1).default(0).meta({ description: "share of requests answered 500" }),
  latencyFactor: z.number().positive().default(1).meta({ description: "multiplies every simulated stage" }),
  leakMiBPerRequest: z.number().min(0).default(0).meta({ description: "GPU memory never given back, per request" }),
});
export type Regression = z.infer<typeof Regression>;

export const RegionConfig = strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  weight: z.number().int().min(0).max(100),
  replicas: z.number().int().min(1).max(32),
  zones: z.number().int().min(1).max(8).default(3),
  standby: z.boolean().default(false).meta({ description: "takes traffic only when every other region is down" }),
});

/** Every threshold of the reference stack, with the seed's numbers as defaults. */
export const StackConfig = strictObject({
  gateway: strictObject({
    healthCheck: strictObject({
      intervalMs: z.number().int().min(10).default(1000),
      timeoutMs: z.number().int().min(1).default(100),
      fall: z.number().int().min(1).default(3),
      rise: z.number().int().min(1).default(2),
    }).prefault({}),
    outlier: strictObject({
      failureRatePct: Pct.max(100).default(5),
      windowMs: z.number().int().min(100).default(2000),
      minRequests: z.number().int().min(1).default(20),
      ejectionMs: z.number().int().min(100).default(10_000),
      slow: strictObject({
        enabled: z.boolean().default(true),
        factor: z.number().gt(1).default(3).meta({ description: "a server whose mean response time over the window passes this × the median of its region's other serving servers is slow" }),
        minMs: z.number().min(0).default(250).meta({ description: "…and passes this: a few ms against fewer ms is no outlier (half the seed's 500 ms p99)" }),
      }).prefault({}).meta({ description: "eject slow replicas, not only failing ones (a throttled GPU answers, late); measured against the replica's own region, so a region slowed as a whole ejects nobody" }),
    }).prefault({}),
    circuitBreaker: strictObject({
      consecutiveFailures: z.number().int().min(1).default(3),
      maxConnections: z.number().int().min(1).default(192).meta({ description: "connections per replica (Envoy's max connections): a full or dark replica is skipped; the default is what a replica admits (a batch of 64 and a queue of 128), so a failover's backlog waits in the gateway's queue rather than as hundreds of fresh connections through Toxiproxy to replicas that would shed them" }),
    }).prefault({}),
    retries: z.number().int().min(0).max(10).default(2),
    retryOn: z.array(z.enum(RETRY_ON)).min(1).default(["conn-failure", "empty-response", "junk-response", "response-timeout", "503"]).meta({ description: "what the gateway retries elsewhere (HAProxy's retry-on)" }),
    retryBudget: strictObject({
      enabled: z.boolean().default(true),
      percent: Pct.max(100).default(20).meta({ description: "retries admitted per second, as a share of all requests per second (Envoy's budget_percent)" }),
      minPerSecond: z.number().int().min(0).default(10).meta({ description: "retries always admitted, whatever the traffic (a floor for quiet times)" }),
    }).prefault({}).meta({ description: "client retries (marked x-retry-attempt) past the budget get a 429 at the gateway, and the gateway stops retrying on its own, so a slow region's retries cannot multiply the load" }),
    timeoutMs: z.number().int().min(100).default(2000).meta({ description: "per-try budget: a replica silent this long (between bytes, not the whole response) is given up on and the request retried elsewhere; 4 × the seed's 500 ms p99" }),
    connectTimeoutMs: z.number().int().min(10).default(500),
    maxConn: z.number().int().min(100).default(20_000),
    queueTimeoutMs: z.number().int().min(10).default(1000).meta({ description: "a request queued this long for a saturated (or dark) replica gets a 503 and is retried elsewhere" }),
    spillover: strictObject({
      enabled: z.boolean().default(false).meta({ description: "off by default: the seed's standby region takes traffic only when every other region is down" }),
      saturation: z.number().positive().default(1).meta({ description: "requests in flight per decode slot (replica.maxBatch) on the active regions' serving replicas at which a growing share of requests goes to the standby region" }),
      stepPct: z.number().int().min(1).max(100).default(10).meta({ description: "how much the standby's share grows or shrinks per look (every 500 ms)" }),
      maxPct: z.number().int().min(0).max(100).default(50).meta({ description: "the most the standby region takes while the active ones serve" }),
    }).prefault({}).meta({ description: "spill-over to the standby region when the active regions are saturated (without it the standby takes traffic only when every other region is down)" }),
    unjamQueue: z.boolean().default(true).meta({ description: "dequeue the gateway's backend queue when it holds requests while servers taking traffic have free slots (HAProxy 2.6 leaves it stuck: see lib/stack/README.md)" }),
  }).prefault({}),
  alerts: strictObject({
    errorRateWarningPct: Pct.default(1),
    errorRateCriticalPct: Pct.default(5),
    p99LatencyMs: z.number().positive().default(500),
    gpuMemoryPct: Pct.default(90),
    gpuUtilizationPct: Pct.default(80).meta({ description: "GPUUtilizationHigh (DCGM_FI_DEV_GPU_UTIL): time to scale out" }),
    gpuTemperatureC: z.number().positive().default(85).meta({ description: "GPUTemperatureHigh (DCGM_FI_DEV_GPU_TEMP), °C" }),
    kvCacheUsagePct: Pct.max(100).default(60).meta({ description: "KVCacheUsageHigh: the KV cache this full (vllm:kv_cache_usage_perc × 100) comes before preemptions and errors" }),
    kvCacheForSeconds: z.number().int().min(0).default(0).meta({
      description: "…for this long. A ramping long-context load takes the stack's cache from 80 % to full, and its queues to shedding, in 2–3 s (kv-pressure, measured): a `for:` as long as the others' would warn after the errors began. `rules export` writes 60",
    }),
    kvCacheHitRatePct: Pct.max(100).optional().meta({ description: "KVCacheHitRateLow: prefix-cache hits below this share of the tokens looked up. Unset, the stack has no such rule: its load shares no prefix, so its hit rate is 0 by construction; `rules export` writes it at 70 unless set" }),
    stageBudgetsMs: strictObject({
      tokenization: z.number().positive().default(50),
      inference: z.number().positive().default(400),
      postprocessing: z.number().positive().default(50),
    }).prefault({}).meta({ description: "StageLatencyBudget: p99 of each stage over the window, ms (the seed's budgets)" }),
    queueDepth: z.number().int().positive().default(1000),
    trafficAnomalyGrowthPct: Pct.default(200).meta({ description: "TrafficAnomaly: the gateway's request rate grew more than this over the lowest it was within the window" }),
    trafficAnomalyWindowSeconds: z.number().int().min(10).default(300).meta({ description: "the sliding window TrafficAnomaly compares against (the seed's 5 minutes; shorten it for a time-scaled run)" }),
    trafficAnomalyMinRps: z.number().min(0).default(10).meta({ description: "TrafficAnomaly stays quiet unless the window's lowest rate was at least this: a service just started, or idle, has no baseline to grow from" }),
    forSeconds: z.number().int().min(0).default(5),
    replicationLagSeconds: z.number().positive().default(1).meta({ description: "SessionReplicationLag: a session replica this far behind its primary (heartbeat written on the primary, read on the replica)" }),
    replicationLagForSeconds: z.number().int().min(0).default(10).meta({ description: "…for this long: longer than a Sentinel failover takes, so a clean failover stays quiet" }),
    windowSeconds: z.number().int().min(2).default(10),
  }).prefault({}),
  rollout: strictObject({
    steps: z.array(z.number().gt(0).max(100)).min(1).default([5, 50, 100]),
    analysisIntervalSeconds: z.number().positive().default(10),
    maxErrorRatePct: Pct.default(2),
    maxLatencyRatio: z.number().positive().default(2),
    autoRollback: z.boolean().default(true),
    keepVersions: z.number().int().min(1).default(3),
  }).prefault({}),
  regions: z
    .array(RegionConfig)
    .min(1)
    .default([
      { name: "us-east", weight: 70, replicas: 3, zones: 3, standby: false },
      { name: "us-west", weight: 30, replicas: 3, zones: 3, standby: false },
      { name: "eu-west", weight: 0, replicas: 3, zones: 3, standby: true },
    ]),
  replica: strictObject({
    model: z.string().default("sim-7b"),
    version: z.string().default("v1"),
    gpuMemoryMiB: z.number().int().positive().default(24_576),
    weightsMiB: z.number().int().min(0).default(14_000),
    kvCacheMiBPerToken: z.number().min(0).default(0.05),
    maxBatch: z.number().int().positive().default(64).meta({ description: "sequences decoded at once (vLLM's max_num_seqs); the rest queue" }),
    batchSlowdown: z.number().min(0).default(1).meta({ description: "a decode step at a full batch takes (1 + this) × interTokenMs; linear in the batch in between" }),
    maxQueue: z.number().int().min(0).default(128).meta({ description: "requests that may wait for a batch slot; past it a request is shed (429, Retry-After) when shedding is on" }),
    shedding: z.boolean().default(true).meta({ description: "shed requests past maxQueue with 429 and Retry-After; off: the queue is unbounded" }),
    defaultMaxTokens: z.number().int().positive().default(16),
    tokenizeMsPer1kTokens: z.number().min(0).default(2),
    timeToFirstTokenMs: z.number().min(0).default(20),
    interTokenMs: z.number().min(0).default(5),
    postprocessMs: z.number().min(0).default(1),
    streamIntervalTokens: z.number().int().positive().default(1).meta({
      description: "tokens per streamed event (SGLang's and vLLM's stream interval): 1 sends each token as it is decoded; more buffers them, fewer events for long answers (the load engine counts events as tokens)",
    }),
    loadMs: z.number().int().min(0).default(300).meta({ description: "time to load the model before /readyz says 200" }),
    restartBackoffMs: z.number().int().min(0).default(500),
    restartBackoffMaxMs: z.number().int().min(0).default(10_000),
    versions: z.record(z.string(), Regression).default({ "v2-bad": { errorRate: 0.2, latencyFactor: 3, leakMiBPerRequest: 0 } }),
  }).prefault({}),
  session: strictObject({
    enabled: z.boolean().default(true).meta({ description: "the session store: Redis nodes replicated across regions, Sentinels, every path through Toxiproxy (local placement only; see lib/stack/README.md)" }),
    nodes: z.array(z.string()).min(1).optional().meta({ description: "regions that hold a Redis node; the first starts as the primary, the others replicate from it (default: every region, in order)" }),
    sentinels: z.array(z.string()).min(1).optional().meta({ description: "regions that run a Sentinel, one each (default: every region)" }),
    quorum: z.number().int().min(1).default(2).meta({ description: "Sentinels that must agree the primary is down before a failover (a majority must also elect a leader)" }),
    downAfterMs: z.number().int().min(100).default(5000).meta({ description: "a primary silent this long is down in a Sentinel's eyes (down-after-milliseconds)" }),
    failoverTimeoutMs: z.number().int().min(1000).default(20_000).meta({ description: "Sentinel's failover-timeout" }),
    aof: z.boolean().default(true).meta({ description: "append-only file on every node" }),
    appendfsync: z.enum(["always", "everysec", "no"]).default("everysec"),
    minReplicasToWrite: z.number().int().min(0).default(1).meta({ description: "a primary with fewer replicas in touch refuses writes (min-replicas-to-write): an isolated primary stops taking writes it would lose" }),
    minReplicasMaxLagSeconds: z.number().int().min(1).default(10).meta({ description: "…in touch: acknowledged within this many seconds (min-replicas-max-lag)" }),
    waitReplicas: z.number().int().min(0).default(1).meta({ description: "a turn is acknowledged to the client only once this many replicas hold it (WAIT); 0 acknowledges on the primary's word alone" }),
    waitTimeoutMs: z.number().int().min(1).default(1000).meta({ description: "how long a write waits for its replicas before the request fails (503) unacknowledged" }),
    commandTimeoutMs: z.number().int().min(10).default(1000).meta({ description: "a Redis command unanswered this long fails, and the client asks the Sentinels for the primary again" }),
  }).prefault({}),
  prometheus: strictObject({ scrapeIntervalSeconds: z.number().positive().default(1) }).prefault({}),
  alerting: strictObject({
    webhookUrl: z.url().optional(),
    groupWaitMs: z.number().int().min(0).default(500),
    pagerSeverity: z.string().min(1).default("critical").meta({ description: "alerts of this severity go to the pager receiver (P0); every other alert to chat (P1). Both are webhooks to the run, which records the receiver" }),
  }).prefault({}),
}).superRefine((c, ctx) => {
  const names = new Set<string>();
  c.regions.forEach((r, i) => {
    if (names.has(r.name)) ctx.addIssue({ code: "custom", path: ["regions", i, "name"], message: `duplicate region "${r.name}"` });
    names.add(r.name);
  });
  if (!c.regions.some((r) => !r.standby && r.weight > 0)) {
    ctx.addIssue({ code: "custom", path: ["regions"], message: "at least one non-standby region needs a weight above 0" });
  }
  if (c.alerts.errorRateCriticalPct < c.alerts.errorRateWarningPct) {
    ctx.addIssue({ code: "custom", path: ["alerts", "errorRateCriticalPct"], message: "must be at least errorRateWarningPct" });
  }
  if (c.replica.weightsMiB >= c.replica.gpuMemoryMiB) {
    ctx.addIssue({ code: "custom", path: ["replica", "weightsMiB"], message: "the model weights must fit in gpuMemoryMiB" });
  }
  for (const key of ["nodes", "sentinels"] as const) {
    const list = c.session[key] ?? [];
    list.forEach((r, i) => {
      if (!names.has(r)) ctx.addIssue({ code: "custom", path: ["session", key, i], message: `no region "${r}" (regions: ${[...names].join(", ")})` });
      if (list.indexOf(r) !== i) ctx.addIssue({ code: "custom", path: ["session", key, i], message: `region "${r}" named twice: one per region` });
    });
  }
  const steps = c.rollout.steps;
  if (steps.some((s, i) => i > 0 && s <= (steps[i - 1] as number)) || steps.at(-1) !== 100) {
    ctx.addIssue({ code: "custom", path: ["rollout", "steps"], message: "steps must rise and end at 100" });
  }
});
export type StackConfig = z.infer<typeof StackConfig>;
export type StackConfigInput = z.input<typeof StackConfig>;

/** Splits `a.b[2].c` into ["a", "b", 2, "c"]. */
export function parseKeyPath(key: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of key.split(".")) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (m === null) throw new FaultlineError("E_INVALID_INPUT", `bad key ${quote(key)}: expected a.b.c or a[0].b`);
    if (["__proto__", "constructor", "prototype"].includes(m[1] as string)) throw new FaultlineError("E_INVALID_INPUT", `bad key ${quote(key)}: "${m[1]}" names no setting`);
    out.push(m[1] as string);
    for (const idx of (m[2] as string).matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** Applies `key=value` overrides (values read as YAML: numbers, booleans, [lists]) onto a raw config. */
export function applySets(raw: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const root = structuredClone(raw);
  for (const set of sets) {
    const eq = set.indexOf("=");
    if (eq <= 0) throw new FaultlineError("E_INVALID_INPUT", `bad --set ${quote(set)}: expected key=value`);
    const path = parseKeyPath(set.slice(0, eq));
    let value: unknown;
    try {
      value = parseYamlValue(set.slice(eq + 1), { maxAliasCount: 0 });
    } catch (cause) {
      throw new FaultlineError("E_INVALID_INPUT", `bad --set ${quote(set)}: the value is not YAML (${errorMessage(cause)})`, { cause });
    }
    let node: Record<string | number, unknown> = root;
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i] as string | number;
      const next = path[i + 1];
      if (node[seg] !== undefined && node[seg] !== null && typeof node[seg] !== "object") {
        throw new FaultlineError("E_INVALID_INPUT", `bad --set ${quote(set)}: ${path.slice(0, i + 1).join(".")} is a value, not a section`);
      }
      if (node[seg] === undefined || node[seg] === null) {
        // `regions[1].weight` on a config without regions starts from the defaults, so indexes mean what they say.
        node[seg] = seg === "regions" && i === 0 ? structuredClone(StackConfig.parse({}).regions) : typeof next === "number" ? [] : {};
      }
      node = node[seg] as Record<string | number, unknown>;
    }
    node[path.at(-1) as string | number] = value;
  }
  return root;
}

/** Loads the stack config (file optional), applies `--set` overrides, and reports every problem at once. */
export async function loadStackConfig(file: string | undefined, sets: readonly string[] = []): Promise<StackConfig> {
  const source = file !== undefined ? readDocumentFile(file) : "";
  const lc = new LineCounter();
  const { docs, problems: yamlProblems } = parseYaml(file ?? "--set", source, lc);
  if (yamlProblems.length > 0) throw new ValidationError(yamlProblems);
  const doc = docs[0]?.doc ?? new Document({});
  const data = docs[0]?.data;
  if (data !== undefined && data !== null && (typeof data !== "object" || Array.isArray(data))) {
    throw new ValidationError([{ file: file ?? "--set", line: 1, col: 1, path: "", message: "a stack config is a mapping of settings" }]);
  }
  const raw = (data as Record<string, unknown> | null | undefined) ?? {};
  const merged = applySets(raw, sets);
  const r = StackConfig.safeParse(merged);
  if (r.success) return r.data;
  const present = (path: readonly PropertyKey[]): boolean => {
    let node: unknown = merged;
    for (const seg of path) {
      if (node === null || typeof node !== "object" || !Object.hasOwn(node, String(seg))) return false;
      node = (node as Record<string, unknown>)[String(seg)];
    }
    return true;
  };
  const where = file ?? "--set";
  const problems = problemsFromIssues(where, doc, lc, r.error.issues, present);
  throw new ValidationError(problems.map((p) => (p.line === 0 && file !== undefined && sets.length > 0 ? { ...p, file: `${file} with --set` } : p)));
}

/** The regions that hold the session store's Redis nodes (the first the primary) and its Sentinels. */
export function sessionRegions(c: StackConfig): { nodes: string[]; sentinels: string[] } {
  const all = c.regions.map((r) => r.name);
  return { nodes: c.session.nodes ?? all, sentinels: c.session.sentinels ?? all };
}
