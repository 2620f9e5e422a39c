import type { Histogram } from "hdr-histogram-js";
import * as hdr from "hdr-histogram-js";
import { BUCKET_MS, SERIES_VERSION, emptyOutcomes, newHistogram, quantiles } from "../schema/series.ts";
import type { LoadBucket, LoadSeries, Outcome } from "../schema/series.ts";

export interface LiveBucket {
  idx: number;
  b: LoadBucket;
  lat: Histogram;
  ttft: Histogram | undefined;
  itl: Histogram | undefined;
  pending: number;
}

/** The load series as requests settle: one bucket per 100 ms of scheduled send time, frozen once its requests settled. */
export class SeriesRecorder {
  readonly series: LoadSeries;
  /** buckets changed since the last `takeChanged` (what a worker posts to its parent) */
  private readonly changed = new Set<number>();
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
      lb = { idx, b, lat: newHistogram(), ttft: undefined, itl: undefined, pending: 0 };
      this.live.set(idx, lb);
      this.series.buckets[idx] = b;
    }
    this.changed.add(idx);
    return lb;
  }

  /** The generator's health where requests fell due: the longest a send was late. */
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
      this.changed.add(idx);
    }
  }

  /** A request settled; `timed` false leaves its duration out of the latency histogram (a cancelled stream). */
  finish(lb: LiveBucket, outcome: Outcome, schedPerf: number, region: string | undefined, version: string | undefined, timed = true): void {
    lb.b.outcomes[outcome]++;
    if (outcome !== "dropped" && timed) lb.lat.recordValue(Math.max(1, Math.round((performance.now() - schedPerf) * 1000)));
    if (region !== undefined) lb.b.regions[region] = (lb.b.regions[region] ?? 0) + 1;
    if (version !== undefined) lb.b.versions[version] = (lb.b.versions[version] ?? 0) + 1;
    this.changed.add(lb.idx);
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
      this.changed.add(idx);
    }
  }

  /** The buckets changed since the last call, by index. */
  takeChanged(): [number, LoadBucket][] {
    const out: [number, LoadBucket][] = [];
    for (const idx of this.changed) {
      const b = this.series.buckets[idx];
      if (b !== undefined) out.push([idx, b]);
    }
    this.changed.clear();
    return out;
  }

  /** Every bucket sealed, and holes (seconds nobody was due in) filled with empty ones. */
  close(): LoadSeries {
    this.seal(true);
    this.series.buckets = Array.from(this.series.buckets, (b, i) => b ?? emptyBucket(this.series.start + i * BUCKET_MS));
    return this.series;
  }
}

function emptyBucket(t: number): LoadBucket {
  return { t, sent: 0, outcomes: emptyOutcomes(), lat: null, ttft: null, itl: null, regions: {}, versions: {} };
}
