import { Agent } from "undici";
import type { Dispatcher } from "undici";
import { FaultlineError } from "../errors.ts";
import { BUCKET_MS, SERIES_VERSION, emptyOutcomes, newHistogram, quantiles } from "../schema/series.ts";
import type { LoadBucket, LoadSeries, Outcome } from "../schema/series.ts";
import type { Histogram } from "hdr-histogram-js";
import * as hdr from "hdr-histogram-js";
import { prepareBodies } from "./requests.ts";
import type { LoadEngine, LoadRun, ResolvedLoad } from "./types.ts";

interface LiveBucket {
  b: LoadBucket;
  lat: Histogram;
  ttft: Histogram | undefined;
  itl: Histogram | undefined;
  pending: number;
}

const BODIES_PER_TEMPLATE = 32;
const TICK_MS = 2;
/** How often the generator checks its own event loop; a beat later than two of these is a block. */
const LOOP_BEAT_MS = 20;

/** Requests due by `elapsed` ms: the integral of the rate (trapezoids over 1 ms steps for ramps). */
export function dueBy(load: ResolvedLoad, elapsed: number): number {
  if (!load.stages || load.stages.length === 0) return (load.rate * elapsed) / 1000;
  let n = 0;
  let t = 0;
  let from = load.rate;
  for (const s of load.stages) {
    const d = Math.min(s.duration, Math.max(0, elapsed - t));
    const rEnd = from + ((s.target - from) * d) / s.duration;
    n += ((from + rEnd) / 2) * (d / 1000);
    if (elapsed <= t + s.duration) return n;
    t += s.duration;
    from = s.target;
  }
  return n + (from * (elapsed - t)) / 1000;
}

/**
 * When request `k` (0-based) is due, in ms from the start: the inverse of `dueBy`. Within a ramp
 * from r0 to r1 over D seconds the count is r0·τ + (r1 − r0)·τ²/(2D); its root gives τ.
 */
export function dueAt(load: ResolvedLoad, k: number): number {
  if (!load.stages || load.stages.length === 0) return (k / load.rate) * 1000;
  let n = 0;
  let t = 0;
  let from = load.rate;
  for (const s of load.stages) {
    const d = s.duration / 1000;
    const inStage = ((from + s.target) / 2) * d;
    if (k < n + inStage) {
      const want = k - n;
      const a = (s.target - from) / (2 * d);
      const tau = Math.abs(a) < 1e-12 ? want / from : (-from + Math.sqrt(Math.max(0, from * from + 4 * a * want))) / (2 * a);
      return t + tau * 1000;
    }
    n += inStage;
    t += s.duration;
    from = s.target;
  }
  return t + ((k - n) / from) * 1000;
}

/** The load series as requests settle: one bucket per 100 ms of scheduled send time, frozen once its requests settled. */
class SeriesRecorder {
  readonly series: LoadSeries;
  private readonly live = new Map<number, LiveBucket>();
  private readonly startPerf: number;

  constructor(start: number, startPerf: number, targetRate: number) {
    this.series = { version: SERIES_VERSION, engine: "builtin", bucketMs: BUCKET_MS, start, targetRate, buckets: [] };
    this.startPerf = startPerf;
  }

  bucketFor(schedPerf: number): LiveBucket {
    const idx = Math.floor((schedPerf - this.startPerf) / BUCKET_MS);
    let lb = this.live.get(idx);
    if (lb === undefined) {
      const b = emptyBucket(this.series.start + idx * BUCKET_MS);
      lb = { b, lat: newHistogram(), ttft: undefined, itl: undefined, pending: 0 };
      this.live.set(idx, lb);
      this.series.buckets[idx] = b;
    }
    return lb;
  }

  /** The generator's health where requests fell due: the longest a send was late, the longest its loop was held. */
  noteLag(lb: LiveBucket, lagMs: number): void {
    const gen = (lb.b.gen ??= { lagMs: 0, loopMs: 0 });
    if (lagMs > gen.lagMs) gen.lagMs = Math.round(lagMs);
  }

  /** The event loop was held for `ms` up to `nowPerf`: every bucket in that stretch says so (sealed ones too). */
  noteLoopBlock(nowPerf: number, ms: number): void {
    const last = Math.floor((nowPerf - this.startPerf) / BUCKET_MS);
    const first = Math.max(0, Math.floor((nowPerf - ms - this.startPerf) / BUCKET_MS));
    for (let idx = first; idx <= last; idx++) {
      const b = this.series.buckets[idx];
      if (b === undefined) continue;
      const gen = (b.gen ??= { lagMs: 0, loopMs: 0 });
      if (ms > gen.loopMs) gen.loopMs = Math.round(ms);
    }
  }

  finish(lb: LiveBucket, outcome: Outcome, schedPerf: number, region?: string, version?: string): void {
    lb.b.outcomes[outcome]++;
    if (outcome !== "dropped") lb.lat.recordValue(Math.max(1, Math.round((performance.now() - schedPerf) * 1000)));
    if (region) lb.b.regions[region] = (lb.b.regions[region] ?? 0) + 1;
    if (version) lb.b.versions[version] = (lb.b.versions[version] ?? 0) + 1;
  }

  /** Buckets whose send window is over and whose requests all settled are frozen: histograms encoded, freed. */
  seal(force: boolean): void {
    const elapsed = performance.now() - this.startPerf;
    for (const [idx, lb] of this.live) {
      if (!force && (lb.pending > 0 || elapsed < (idx + 1) * BUCKET_MS)) continue;
      lb.b.lat = quantiles(lb.lat);
      if (lb.lat.totalCount > 0) lb.b.latHdr = hdr.encodeIntoCompressedBase64(lb.lat);
      if (lb.ttft) {
        lb.b.ttft = quantiles(lb.ttft);
        if (lb.ttft.totalCount > 0) lb.b.ttftHdr = hdr.encodeIntoCompressedBase64(lb.ttft);
      }
      if (lb.itl) lb.b.itl = quantiles(lb.itl);
      lb.lat.destroy();
      lb.ttft?.destroy();
      lb.itl?.destroy();
      this.live.delete(idx);
    }
  }

  /** Every bucket sealed, and holes (seconds nobody was due in) filled with empty ones. */
  close(): LoadSeries {
    this.seal(true);
    this.series.buckets = Array.from(this.series.buckets, (b, i) => b ?? emptyBucket(this.series.start + i * BUCKET_MS));
    return this.series;
  }
}

/** One request, streamed or not; its outcome, and for a stream the time to each token into the bucket. */
async function send(pool: Dispatcher, origin: string, path: string, req: { body: string; stream: boolean }, timeoutMs: number, lb: LiveBucket, schedPerf: number): Promise<{ outcome: Outcome; region?: string; version?: string }> {
  try {
    const res = await pool.request({ origin, path, method: "POST", headers: { "content-type": "application/json" }, body: req.body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const region = res.headers["x-faultline-region"] as string | undefined;
    const version = res.headers["x-faultline-version"] as string | undefined;
    const code = res.statusCode;
    const tags = { ...(region ? { region } : {}), ...(version ? { version } : {}) };
    if (!(req.stream && code === 200)) {
      await res.body.dump();
      return { outcome: code < 300 ? "ok" : code === 429 ? "s429" : code < 500 ? "s4xx" : "s5xx", ...tags };
    }
    let first = true;
    let last = 0;
    let done = false;
    try {
      for await (const chunk of res.body) {
        const now = performance.now();
        if (first) {
          lb.ttft ??= newHistogram();
          lb.ttft.recordValue(Math.max(1, Math.round((now - schedPerf) * 1000)));
          first = false;
        } else {
          lb.itl ??= newHistogram();
          lb.itl.recordValue(Math.max(1, Math.round((now - last) * 1000)));
        }
        last = now;
        if ((chunk as Buffer).includes("[DONE]")) done = true;
      }
    } catch {
      done = false;
    }
    return { outcome: done ? "ok" : "streamCut", ...tags };
  } catch (err) {
    const name = (err as Error).name;
    const code = (err as { code?: string }).code ?? "";
    return { outcome: name === "TimeoutError" || name === "AbortError" || code.includes("TIMEOUT") ? "timeout" : "connError" };
  }
}

/**
 * The builtin engine: an open model (requests leave on schedule whether or not earlier ones came
 * back) on undici, measuring each request from its *scheduled* send time, so a stalled server
 * shows as latency in the buckets of the stall instead of fewer requests (no coordinated omission).
 */
export class BuiltinLoadEngine implements LoadEngine {
  readonly name = "builtin";

  async start(load: ResolvedLoad): Promise<LoadRun> {
    if (load.rate <= 0 && !(load.stages ?? []).some((s) => s.target > 0)) {
      throw new FaultlineError("E_INVALID_INPUT", "load rate must be above 0");
    }
    const origin = new URL(load.baseUrl).origin;
    // As many connections as requests in flight: clients are independent, so one hung request must
    // not queue the next behind it (that queueing would be the generator's, not the system's).
    const agent = new Agent({ connections: load.maxInFlight, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: 5000 } });
    const pool = agent as Dispatcher;
    const templates = load.mix.map((t) => ({ t, bodies: prepareBodies(t, BODIES_PER_TEMPLATE) }));
    const totalWeight = templates.reduce((s, x) => s + x.t.weight, 0);
    const startPerf = performance.now();
    const rec = new SeriesRecorder(Date.now(), startPerf, load.rate);
    let sent = 0;
    let inflight = 0;
    let stopped = false;
    let seq = 0;

    const fire = async (schedPerf: number): Promise<void> => {
      const lb = rec.bucketFor(schedPerf);
      lb.b.sent++;
      sent++;
      rec.noteLag(lb, performance.now() - schedPerf);
      if (inflight >= load.maxInFlight) {
        lb.b.outcomes.dropped++;
        return;
      }
      const chosen = pickTemplate(templates, ((seq++ * 0.6180339887) % 1) * totalWeight);
      const req = chosen.bodies[seq % BODIES_PER_TEMPLATE] as { body: string; stream: boolean };
      inflight++;
      lb.pending++;
      const r = await send(pool, origin, chosen.t.path, req, load.timeoutMs, lb, schedPerf);
      inflight--;
      lb.pending--;
      rec.finish(lb, r.outcome, schedPerf, r.region, r.version);
    };

    const beat = watchLoop(rec);
    let resolveDone!: (s: LoadSeries) => void;
    const done = new Promise<LoadSeries>((r) => (resolveDone = r));
    const settle = async (): Promise<void> => {
      const deadline = Date.now() + load.timeoutMs + 1000;
      while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      clearInterval(beat);
      const series = rec.close();
      await agent.close().catch(() => undefined);
      resolveDone(series);
    };

    const maxRequests = load.maxRequests ?? Infinity;
    const tick = (): void => {
      const elapsed = performance.now() - startPerf;
      if (stopped || elapsed >= load.durationMs || sent >= maxRequests) {
        stopped = true;
        void settle();
        return;
      }
      // Every request due by now leaves now, each stamped with its own scheduled time. By `elapsed`
      // floor(dueBy(elapsed)) + 1 are due (the first at 0); request k fell due at dueAt(k).
      const due = Math.min(Math.floor(dueBy(load, elapsed)) + 1, maxRequests, Math.ceil(dueBy(load, load.durationMs)));
      // stamped with the time it was due, from the schedule's integral (a ramp's current rate would
      // misdate every request by the ramp's lag: the stamps would trail the clock for the rest of the run)
      while (sent < due) void fire(Math.min(startPerf + dueAt(load, sent), startPerf + elapsed));
      rec.seal(false);
      setTimeout(tick, TICK_MS);
    };
    setImmediate(tick);

    return {
      series: rec.series,
      done,
      stop: async () => {
        stopped = true;
        return done;
      },
    };
  }
}

/** The generator's own loop: a timer that fires late says how long the loop was held, and where. */
function watchLoop(rec: SeriesRecorder): NodeJS.Timeout {
  let last = performance.now();
  return setInterval(() => {
    const now = performance.now();
    const held = now - last - LOOP_BEAT_MS;
    if (held > LOOP_BEAT_MS) rec.noteLoopBlock(now, held);
    last = now;
  }, LOOP_BEAT_MS);
}

/** The template that a point `pick` in [0, total weight) lands on: a low-discrepancy sequence of points keeps the mix exact over short windows. */
function pickTemplate<T extends { t: { weight: number } }>(templates: readonly T[], pick: number): T {
  for (const x of templates) if ((pick -= x.t.weight) < 0) return x;
  return templates[0] as T;
}

function emptyBucket(t: number): LoadBucket {
  return { t, sent: 0, outcomes: emptyOutcomes(), lat: null, ttft: null, itl: null, regions: {}, versions: {} };
}
