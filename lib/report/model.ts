import { BUCKET_MS } from "../schema/series.ts";
import type { LoadBucket } from "../schema/series.ts";
import type { HostSample, RunRecord, StackSample } from "../schema/run-record.ts";

/**
 * What the HTML report draws: the run record without the raw histograms, and the load series
 * reduced to at most ~1,500 points (100 ms buckets merged into coarser steps for long runs), so a
 * 10-minute run at 10k QPS stays well under 3 MB.
 */
export interface ChartData {
  stepMs: number;
  t: number[];
  rps: number[];
  errorRate: (number | null)[];
  p50: (number | null)[];
  p95: (number | null)[];
  p99: (number | null)[];
  ttft: (number | null)[];
  regions: Record<string, number[]>;
  /** share of successful responses per model version (x-faultline-version), % */
  versions: Record<string, number[]>;
  /** the instrument's lane: the generator's worst send lag and loop block (ms), other work on the host (cores), the CPU the host kept from the gateway (ms a second) */
  lagMs: (number | null)[];
  loopMs: (number | null)[];
  otherCores: (number | null)[];
  gatewayStolenMs: (number | null)[];
  /** the stack's lane: the gateway's average queue, connect and response times, the replicas' p99 queue wait (ms); requests queued at both (count) */
  stack: { gatewayQueueMs: (number | null)[]; gatewayConnectMs: (number | null)[]; gatewayResponseMs: (number | null)[]; replicaQueueP99Ms: (number | null)[]; queued: (number | null)[] } | null;
  /** the engine and its GPUs: each stage's p99 and time to first token (ms), KV cache use and GPU utilisation (%), preemptions a second, GPUs with an XID; null when the target exports none */
  engine?: { tokenizationP99Ms: (number | null)[]; inferenceP99Ms: (number | null)[]; postprocessingP99Ms: (number | null)[]; ttftP99Ms: (number | null)[]; kvCacheUsagePct: (number | null)[]; preemptionsPerSecond: (number | null)[]; gpuUtilPct: (number | null)[]; gpusWithXid: (number | null)[] } | null;
  /** conversations: share of turns acknowledged as kept (%), and the session store's worst replica lag (s) */
  sessions?: { ackedPct: (number | null)[]; lagSeconds: (number | null)[] };
}

/** Samples taken about once a second, looked up by time: the one that covers a point, or none within 1.5 s. */
class SampleCursor<S extends { t: number }> {
  private i = 0;
  private readonly samples: readonly S[];

  constructor(samples: readonly S[]) {
    this.samples = samples;
  }

  at(from: number, to: number): S | undefined {
    while (this.i + 1 < this.samples.length && (this.samples[this.i + 1] as S).t <= to) this.i++;
    const s = this.samples[this.i];
    return s !== undefined && s.t <= to + 1500 && s.t >= from - 1500 ? s : undefined;
  }
}

export interface ReportModel {
  record: Omit<RunRecord, "series"> & { series: { probes: RunRecord["series"]["probes"] } };
  chart: ChartData | null;
  generatedAt: number;
  /** the experiment's last calibration on this target, in words */
  calibration?: string;
}

const MAX_POINTS = 1500;

export function chartData(buckets: readonly LoadBucket[], host: readonly HostSample[] = [], stack: readonly StackSample[] = []): ChartData | null {
  if (buckets.length === 0) return null;
  const per = Math.max(1, Math.ceil(buckets.length / MAX_POINTS));
  const d: ChartData = { stepMs: per * BUCKET_MS, t: [], rps: [], errorRate: [], p50: [], p95: [], p99: [], ttft: [], regions: {}, versions: {}, lagMs: [], loopMs: [], otherCores: [], gatewayStolenMs: [], stack: null };
  const hosts = new SampleCursor(host);
  const stacks = new SampleCursor(stack);
  const lane: NonNullable<ChartData["stack"]> = { gatewayQueueMs: [], gatewayConnectMs: [], gatewayResponseMs: [], replicaQueueP99Ms: [], queued: [] };
  const engine: NonNullable<ChartData["engine"]> = { tokenizationP99Ms: [], inferenceP99Ms: [], postprocessingP99Ms: [], ttftP99Ms: [], kvCacheUsagePct: [], preemptionsPerSecond: [], gpuUtilPct: [], gpusWithXid: [] };
  const regionNames = new Set<string>();
  for (const b of buckets) for (const r of Object.keys(b.regions)) regionNames.add(r);
  for (const r of regionNames) d.regions[r] = [];
  const sessions: NonNullable<ChartData["sessions"]> = { ackedPct: [], lagSeconds: [] };
  const versionNames = new Set<string>();
  for (const b of buckets) for (const v of Object.keys(b.versions)) versionNames.add(v);
  for (const v of versionNames) d.versions[v] = [];
  for (let i = 0; i < buckets.length; i += per) {
    const g = buckets.slice(i, i + per);
    const sent = g.reduce((s, b) => s + b.sent, 0);
    const done = g.reduce((s, b) => s + b.outcomes.ok + b.outcomes.s429 + b.outcomes.s4xx + b.outcomes.s5xx + b.outcomes.timeout + b.outcomes.connError + b.outcomes.streamCut + b.outcomes.dropped, 0);
    const bad = done - g.reduce((s, b) => s + b.outcomes.ok, 0);
    // The coarser point takes the worst of its buckets' percentiles: a spike must not average away.
    const worst = (pick: (b: LoadBucket) => number | undefined): number | null => {
      const xs = g.map(pick).filter((x): x is number => x !== undefined);
      return xs.length ? Math.max(...xs) : null;
    };
    d.t.push((g[0] as LoadBucket).t / 1000);
    d.rps.push((sent * 1000) / (g.length * BUCKET_MS));
    d.errorRate.push(done > 0 ? (bad / done) * 100 : null);
    d.p50.push(worst((b) => b.lat?.p50));
    d.p95.push(worst((b) => b.lat?.p95));
    d.p99.push(worst((b) => b.lat?.p99));
    d.ttft.push(worst((b) => b.ttft?.p99));
    d.lagMs.push(worst((b) => b.gen?.lagMs));
    d.loopMs.push(worst((b) => b.gen?.loopMs));
    const from = (g[0] as LoadBucket).t;
    const to = (g.at(-1) as LoadBucket).t + BUCKET_MS;
    d.otherCores.push(hosts.at(from, to)?.other ?? null);
    const st = stacks.at(from, to);
    d.gatewayStolenMs.push(st?.gatewayStolenMs ?? null);
    lane.gatewayQueueMs.push(st?.gatewayQueueMs ?? null);
    lane.gatewayConnectMs.push(st?.gatewayConnectMs ?? null);
    lane.gatewayResponseMs.push(st?.gatewayResponseMs ?? null);
    lane.replicaQueueP99Ms.push(st?.replicaQueueP99Ms ?? null);
    for (const k of Object.keys(engine) as (keyof typeof engine)[]) engine[k].push(st?.[k] ?? null);
    lane.queued.push(st?.gatewayQueued === undefined && st?.replicaQueued === undefined ? null : (st.gatewayQueued ?? 0) + (st.replicaQueued ?? 0));
    const writes = g.reduce((s, b) => s + (b.sessions?.writes ?? 0), 0);
    sessions.ackedPct.push(writes > 0 ? (g.reduce((s, b) => s + (b.sessions?.acked ?? 0), 0) / writes) * 100 : null);
    sessions.lagSeconds.push(st?.replicationLagSeconds ?? null);
    const okTotal = g.reduce((s, b) => s + Object.values(b.regions).reduce((x, y) => x + y, 0), 0);
    for (const r of regionNames) {
      const n = g.reduce((s, b) => s + (b.regions[r] ?? 0), 0);
      (d.regions[r] as number[]).push(okTotal > 0 ? (n / okTotal) * 100 : 0);
    }
    const versionTotal = g.reduce((s, b) => s + Object.values(b.versions).reduce((x, y) => x + y, 0), 0);
    for (const v of versionNames) {
      const n = g.reduce((s, b) => s + (b.versions[v] ?? 0), 0);
      (d.versions[v] as number[]).push(versionTotal > 0 ? (n / versionTotal) * 100 : 0);
    }
  }
  if (stack.length > 0) d.stack = lane;
  if (Object.values(engine).some((xs) => xs.some((x) => x !== null))) d.engine = engine;
  if (buckets.some((b) => b.sessions !== undefined)) d.sessions = sessions;
  return d;
}

export function reportModel(record: RunRecord, now = Date.now()): ReportModel {
  const { series, ...rest } = record;
  return { record: { ...rest, series: { probes: series.probes } }, chart: chartData(series.load?.buckets ?? [], series.host ?? [], series.stack ?? []), generatedAt: now };
}
