import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

type VersionSeries = { ok: Counter.Internal; duration: Histogram.Internal<string>; ttft: Histogram.Internal<string>; codes: Map<string, Counter.Internal> };

/** What a replica exports on /metrics: requests, latencies and stages by version, its queue, KV cache and a DCGM-shaped GPU. */
export class ReplicaMetrics {
  private readonly registry = new Registry();
  private readonly m;
  private readonly byVersion = new Map<string, VersionSeries>();
  private readonly stages;
  private readonly model: string;
  private readonly host: string;

  constructor(model: string, version: string, host: string) {
    this.model = model;
    this.host = host;
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    const r = [this.registry];
    const gpuLabels = ["gpu", "Hostname"] as const;
    this.m = {
      requests: new Counter({ name: "inference_requests_total", help: "Requests by model version and HTTP status", labelNames: ["model", "version", "code"], registers: r }),
      duration: new Histogram({ name: "inference_request_duration_seconds", help: "Time from request received to last byte sent", labelNames: ["model", "version"], buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10], registers: r }),
      ttft: new Histogram({ name: "inference_time_to_first_token_seconds", help: "Time from request received to the first token", labelNames: ["model", "version"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: r }),
      stage: new Histogram({ name: "inference_stage_duration_seconds", help: "Time per stage: tokenization, inference, post-processing", labelNames: ["stage"], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.4, 1, 2.5], registers: r }),
      queueDepth: new Gauge({ name: "inference_queue_depth", help: "Requests waiting for a batch slot", registers: r }),
      queueTime: new Histogram({ name: "inference_request_queue_time_seconds", help: "Time a request waited for a batch slot", buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r }),
      received: new Counter({ name: "inference_requests_received_total", help: "Completion requests that reached the replica, whatever became of them (retries included)", registers: r }),
      aborted: new Counter({ name: "inference_requests_aborted_total", help: "Streams whose client left mid-way (a cancel, a cut connection): decoding stopped and the slot freed at the next step (vLLM aborts them the same way)", registers: r }),
      sessionWrites: new Counter({ name: "inference_session_writes_total", help: "Conversation turns written to the session store, by whether the client was told they were kept (result: acked, failed)", labelNames: ["result"], registers: r }),
      shed: new Counter({ name: "inference_requests_shed_total", help: "Requests refused with 429 because the queue was full", registers: r }),
      maxBatch: new Gauge({ name: "inference_max_batch_size", help: "Sequences the replica decodes at once", registers: r }),
      capacity: new Gauge({ name: "inference_capacity_requests_per_second", help: "Requests a second the replica completes with its batch full, for the mean request it has seen", registers: r }),
      inflight: new Gauge({ name: "inference_inflight_requests", help: "Requests being decoded", registers: r }),
      kvUsage: new Gauge({ name: "inference_kv_cache_usage_ratio", help: "KV cache in use / KV cache capacity", registers: r }),
      ooms: new Counter({ name: "inference_oom_total", help: "Allocations refused for lack of GPU memory", registers: r }),
      info: new Gauge({ name: "inference_model_info", help: "The model version being served", labelNames: ["model", "version"], registers: r }),
      fbUsed: new Gauge({ name: "DCGM_FI_DEV_FB_USED", help: "Framebuffer memory used (in MiB)", labelNames: gpuLabels, registers: r }),
      fbFree: new Gauge({ name: "DCGM_FI_DEV_FB_FREE", help: "Framebuffer memory free (in MiB)", labelNames: gpuLabels, registers: r }),
      util: new Gauge({ name: "DCGM_FI_DEV_GPU_UTIL", help: "GPU utilization (in %)", labelNames: gpuLabels, registers: r }),
      temp: new Gauge({ name: "DCGM_FI_DEV_GPU_TEMP", help: "GPU temperature (in C)", labelNames: gpuLabels, registers: r }),
    };
    this.m.info.set({ model, version }, 1);
    this.stages = { tok: this.m.stage.labels("tokenization"), inf: this.m.stage.labels("inference"), post: this.m.stage.labels("postprocessing") };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The version served changed (a rollout): the info gauge says which. */
  serving(previous: string, version: string): void {
    this.m.info.remove({ model: this.model, version: previous });
    this.m.info.set({ model: this.model, version }, 1);
  }

  /** A request got its batch slot after waiting `seconds` (0 when one was free). */
  waited(seconds: number): void {
    this.m.queueTime.observe(seconds);
  }

  shed(): void {
    this.m.shed.inc();
  }

  sessionWrite(acked: boolean): void {
    this.m.sessionWrites.inc({ result: acked ? "acked" : "failed" });
  }

  aborted(): void {
    this.m.aborted.inc();
  }

  received(): void {
    this.m.received.inc();
  }

  oom(): void {
    this.m.ooms.inc();
  }

  /** Label children cached per version: prom-client would hash a label object on every call. */
  private series(version: string): VersionSeries {
    let v = this.byVersion.get(version);
    if (v === undefined) {
      v = { ok: this.m.requests.labels(this.model, version, "200"), duration: this.m.duration.labels(this.model, version), ttft: this.m.ttft.labels(this.model, version), codes: new Map() };
      this.byVersion.set(version, v);
    }
    return v;
  }

  count(version: string, code: number): void {
    const v = this.series(version);
    if (code === 200) return v.ok.inc();
    let c = v.codes.get(String(code));
    if (c === undefined) v.codes.set(String(code), (c = this.m.requests.labels(this.model, version, String(code))));
    c.inc();
  }

  observe(version: string, t0: number, tok: number, ttft: number, decode: number, post: number, firstTokenAt: number): void {
    const v = this.series(version);
    v.duration.observe((performance.now() - t0) / 1000);
    v.ttft.observe((firstTokenAt - t0) / 1000);
    this.stages.tok.observe(tok / 1000);
    this.stages.inf.observe((ttft + decode) / 1000);
    this.stages.post.observe(post / 1000);
  }

  /** The gauges set from the replica's state now, then the exposition text. */
  async render(s: { usedMiB: number; capacityMiB: number; inflight: number; maxBatch: number; queued: number; kvUsage: number; capacityRps: number }): Promise<string> {
    const util = Math.min(100, (s.inflight / s.maxBatch) * 100);
    const g = { gpu: "0", Hostname: this.host };
    this.m.fbUsed.set(g, Math.round(s.usedMiB));
    this.m.fbFree.set(g, Math.max(0, Math.round(s.capacityMiB - s.usedMiB)));
    this.m.util.set(g, Math.round(util));
    this.m.temp.set(g, Math.round(38 + util * 0.4));
    this.m.inflight.set(s.inflight);
    this.m.queueDepth.set(s.queued);
    this.m.kvUsage.set(s.kvUsage);
    this.m.maxBatch.set(s.maxBatch);
    this.m.capacity.set(Math.round(s.capacityRps));
    return this.registry.metrics();
  }
}
