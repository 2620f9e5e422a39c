import { z } from "zod";
import type { RunRecord } from "./run-record.ts";

/**
 * The JSON Schema of run.json (`faultline schema --kind run`), kept in step with the RunRecord
 * type by the assignment check at the bottom: a field added to one and not the other fails tsc.
 */
const Quantiles = z.object({ p50: z.number(), p90: z.number(), p95: z.number(), p99: z.number(), max: z.number(), mean: z.number(), count: z.number() });
const Outcomes = z.object({ ok: z.number(), s429: z.number(), s4xx: z.number(), s5xx: z.number(), timeout: z.number(), connError: z.number(), streamCut: z.number(), dropped: z.number() });

export const LoadSeriesSchema = z
  .object({
    version: z.literal(1),
    engine: z.string(),
    bucketMs: z.number().meta({ description: "bucket width; buckets are keyed by scheduled send time" }),
    start: z.number(),
    targetRate: z.number(),
    buckets: z.array(
      z.object({
        t: z.number().meta({ description: "bucket start, ms since the epoch" }),
        sent: z.number(),
        outcomes: Outcomes,
        lat: Quantiles.nullable().meta({ description: "latency from scheduled send time, ms" }),
        latHdr: z.string().optional().meta({ description: "HDR histogram (µs), compressed base64" }),
        ttft: Quantiles.nullable(),
        ttftHdr: z.string().optional(),
        itl: Quantiles.nullable(),
        regions: z.record(z.string(), z.number()).meta({ description: "successful responses per x-faultline-region" }),
        versions: z.record(z.string(), z.number()).meta({ description: "successful responses per x-faultline-version" }),
        retries: z.number().int().optional().meta({ description: "tries sent again, by clients with a retry policy, for the requests of this bucket" }),
        tokensLost: z.number().int().optional().meta({ description: "tokens that streams cut mid-way were owed and never delivered (maxTokens − tokens received)" }),
        cancelled: z.number().int().optional().meta({ description: "streams the clients cancelled on purpose (counted ok; their latency is left out)" }),
        sessions: z.object({ writes: z.number().int(), acked: z.number().int() }).optional().meta({ description: "conversation turns sent, and acknowledged as kept by the session store" }),
        gen: z.object({ lagMs: z.number(), loopMs: z.number() }).optional().meta({ description: "the load generator's health: its longest send lag and event-loop block in the bucket, ms" }),
      }),
    ),
    sessionAcks: z.object({ acked: z.record(z.string(), z.array(z.tuple([z.number(), z.number()]))) }).optional().meta({ description: "turns acknowledged to clients, by session: [turn, epoch ms] (dropped once the session audit has read the store)" }),
    priority: z.object({ nice: z.number().int(), autogroup: z.number().int().optional(), refused: z.string().optional() }).optional().meta({ description: "the builtin generator's thread: the nice value it ran at (it asks for -10, so that the system under test on the same host cannot make it late), its session's scheduling group's nice value when it runs in a session of its own, and why not when refused" }),
  })
  .meta({ description: "the client-side load series, version 1" });

const Window = z.object({ start: z.number(), end: z.number() });

export const RunRecordSchema = z.object({
  schemaVersion: z.literal(1),
  runId: z.string(),
  experiment: z.object({ name: z.string(), file: z.string().optional(), hypothesis: z.string().optional(), description: z.string().optional() }),
  target: z.object({ name: z.string(), file: z.string().optional() }),
  startedAt: z.number(),
  endedAt: z.number().optional(),
  verdict: z.enum(["pass", "fail", "inconclusive", "aborted", "error"]).optional(),
  reason: z.string().optional(),
  timeScale: z.number(),
  phases: z.array(z.object({ name: z.enum(["warmup", "baseline", "fault", "recovery"]), start: z.number(), end: z.number().optional() })),
  faults: z.array(
    z.object({
      name: z.string(),
      kind: z.string(),
      targets: z.array(z.string()),
      labels: z.record(z.string(), z.string()),
      plannedAt: z.number(),
      plannedDuration: z.number(),
      injectedAt: z.number().optional().meta({ description: "when the fault took effect (its first action applied)" }),
      revertedAt: z.number().optional(),
      actions: z.array(z.object({ id: z.string(), description: z.string(), injectedAt: z.number().optional(), revertedAt: z.number().optional(), error: z.string().optional() })),
    }),
  ),
  assertions: z.array(
    z.object({
      name: z.string(),
      kind: z.string(),
      verdict: z.enum(["pass", "fail", "inconclusive"]),
      measured: z.number().nullable(),
      limit: z.number().nullable(),
      unit: z.string().optional(),
      window: Window,
      message: z.string(),
      evidence: z.array(z.unknown()),
      crossCheck: z
        .object({ by: z.string(), measured: z.number().nullable(), message: z.string() })
        .optional()
        .meta({ description: "the same measurement from another side of the wire: the failover time by the gateway's own record" }),
    }),
  ),
  timeline: z.array(z.object({ t: z.number(), type: z.string(), message: z.string(), data: z.record(z.string(), z.unknown()).optional() })),
  series: z.object({
    probes: z.record(z.string(), z.array(z.object({ t: z.number(), ok: z.boolean(), ms: z.number(), status: z.number().optional(), error: z.string().optional() }))),
    load: LoadSeriesSchema.optional(),
    host: z
      .array(z.object({ t: z.number(), cores: z.number(), busy: z.number(), own: z.number(), irq: z.number().optional(), sut: z.number().optional(), other: z.number().optional() }))
      .optional()
      .meta({ description: "the host's CPU in cores per sample: busy, faultline, the kernel's interrupts, the system under test, other work" }),
    stack: z
      .array(
        z.object({
          t: z.number(),
          gatewayQueueMs: z.number().optional(),
          gatewayConnectMs: z.number().optional(),
          gatewayResponseMs: z.number().optional(),
          gatewayQueued: z.number().optional(),
          gatewayStolenMs: z.number().optional(),
          replicaQueueP99Ms: z.number().optional(),
          replicaQueued: z.number().optional(),
          shedPerSecond: z.number().optional(),
          replicaRequestsPerSecond: z.number().optional(),
          replicationLagSeconds: z.number().optional(),
          tokenizationP99Ms: z.number().optional(),
          inferenceP99Ms: z.number().optional(),
          postprocessingP99Ms: z.number().optional(),
          kvCacheUsagePct: z.number().optional(),
          preemptionsPerSecond: z.number().optional(),
          ttftP99Ms: z.number().optional(),
          gpuUtilPct: z.number().optional(),
          gpusWithXid: z.number().optional(),
          regions: z.record(z.string(), z.object({ requestsPerSecond: z.number().optional(), errorsPerSecond: z.number().optional(), p99Ms: z.number().optional() })).optional(),
        }),
      )
      .optional()
      .meta({ description: "where the stack's time went, once a second: the gateway's queue/connect/response times and queue, the replicas' queue wait, queue, shed rate and the requests reaching them; each stage's p99, KV cache use, GPU utilisation and XIDs (vLLM and DCGM names)" }),
    gateway: z
      .object({
        bucketMs: z.number(),
        boundsMs: z.array(z.number()).meta({ description: "upper bounds of the answer-time slots; one slot more counts answers beyond the last" }),
        buckets: z.array(z.object({ t: z.number(), accepted: z.number().int(), ok: z.number().int(), regions: z.record(z.string(), z.number().int()), answered: z.array(z.number().int()) })),
      })
      .optional()
      .meta({ description: "the gateway's own record per 100 ms of accept time: requests accepted, answered below 400 (per region), answers by time slot" }),
  }),
  sessions: z
    .object({
      checkedAt: z.number(),
      sessions: z.number().int(),
      acknowledged: z.number().int(),
      lost: z.number().int(),
      lostTurns: z.array(z.object({ session: z.string(), turn: z.number(), t: z.number() })).meta({ description: "the first 100 lost turns, oldest first" }),
      recoveryPoint: z.number().optional().meta({ description: "the newest acknowledged write kept before the first lost one (epoch ms)" }),
      newestLost: z.number().optional(),
      rpoMs: z.number().nullable().meta({ description: "newestLost − recoveryPoint: the span of acknowledged writes lost; 0 when none" }),
      error: z.string().optional().meta({ description: "why the store could not be read (then nothing is counted)" }),
    })
    .optional()
    .meta({ description: "the session audit: every turn acknowledged to a client, looked up in the store after the run" }),
  environment: z.record(z.string(), z.unknown()).optional(),
  spec: z.unknown().optional().meta({ description: "the validated experiment, durations in ms" }),
  source: z.string().optional().meta({ description: "the experiment's YAML as written" }),
  calibration: z.boolean().optional().meta({ description: "faultline calibrate: the faults were planned, not injected" }),
});

// Compile-time: the schema describes exactly the RunRecord type (both directions).
type Parsed = z.infer<typeof RunRecordSchema>;
export const _schemaMatchesType: [Parsed extends RunRecord ? true : false, RunRecord extends Parsed ? true : false] = [true, true];
