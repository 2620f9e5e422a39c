import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { STAGES } from "./alert-pack.ts";
import { CountedHistogram } from "./histogram.ts";
import type { HistogramSeries } from "./histogram.ts";

/**
 * vLLM's engine metrics as vLLM (v1 engine) names, types, labels and help text them
 * (vllm/v1/metrics/loggers.py, PrometheusStatLogger; docs/design/metrics.md), and the
 * DCGM exporter's GPU fields as etc/default-counters.csv declares them. The test in
 * test/integration/replica-metrics.test.ts checks both against test/fixtures/upstream/inference-metrics.json.
 * Buckets are ours: vLLM's queue and latency buckets start at 0.3 s, too coarse for a simulated
 * fleet whose requests take tens of milliseconds.
 */
const VLLM_LABELS = ["model_name", "engine"] as const;
/** dcgm-exporter's labels on every field (Hostname as it spells it) */
const DCGM_LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"] as const;

/** Where a replica serves its GPU's DCGM exporter fields (a separate exporter on a real node; a scrape job of its own here). */
export const DCGM_PATH = "/dcgm/metrics";

/** One finished request's timings (ms) and tokens, as the replica measured them. */
export interface Finished {
  version: string;
  /** performance.now() when the request arrived */
  t0: number;
  tokenizeMs: number;
  prefillMs: number;
  decodeMs: number;
  postMs: number;
  /** performance.now() when its first token left */
  firstTokenAt: number;
  promptTokens: number;
  /** prompt tokens found in the prefix cache (a conversation's earlier turns) */
  cachedTokens: number;
  outputTokens: number;
  /** the inter-token gaps were observed one by one as the stream went out */
  streamed: boolean;
}

type VersionSeries = { ok: Counter.Internal; duration: HistogramSeries; codes: Map<string, Counter.Internal> };

/** What a replica exports: vLLM's engine metrics, the HTTP view by version, the seed's three stages, and faultline's own. */
export class ReplicaMetrics {
  private readonly registry = new Registry();
  /** the DCGM exporter's view of this replica's GPU, served on its own path (a separate exporter in a real fleet) */
  readonly gpu = new Registry();
  private readonly m;
  private readonly v;
  private readonly byVersion = new Map<string, VersionSeries>();
  /** preemptions the scheduler had counted at the last scrape */
  private preempted = 0;
  private readonly stages;
  private readonly model: string;
  private readonly dcgm: Record<(typeof DCGM_LABELS)[number], string>;
  private readonly dcgmSeries;

  constructor(model: string, version: string, host: string) {
    this.model = model;
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    const r = [this.registry];
    const labelNames = VLLM_LABELS;
    const latency = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 20];
    this.m = {
      requests: new Counter({ name: "inference_requests_total", help: "Requests by model version and HTTP status", labelNames: ["model", "version", "code"], registers: r }),
      duration: new CountedHistogram({ name: "inference_request_duration_seconds", help: "Time from request received to last byte sent, by model version", labelNames: ["model", "version"], buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10], registers: r }),
      stage: new CountedHistogram({ name: "inference_stage_duration_seconds", help: "Time per stage: tokenization, inference, post-processing", labelNames: ["stage"], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.4, 1, 2.5], registers: r }),
      received: new Counter({ name: "inference_requests_received_total", help: "Completion requests that reached the replica, whatever became of them (retries included)", registers: r }),
      aborted: new Counter({ name: "inference_requests_aborted_total", help: "Streams whose client left mid-way (a cancel, a cut connection): decoding stopped and the slot freed at the next step (vLLM aborts them the same way)", registers: r }),
      sessionWrites: new Counter({ name: "inference_session_writes_total", help: "Conversation turns written to the session store, by whether the client was told they were kept (result: acked, failed)", labelNames: ["result"], registers: r }),
      shed: new Counter({ name: "inference_requests_shed_total", help: "Requests refused with 429 because the queue was full", registers: r }),
      maxBatch: new Gauge({ name: "inference_max_batch_size", help: "Sequences the replica decodes at once", registers: r }),
      capacity: new Gauge({ name: "inference_capacity_requests_per_second", help: "Requests a second the replica completes with its batch full, for the mean request it has seen", registers: r }),
      ooms: new Counter({ name: "inference_oom_total", help: "Allocations refused for lack of GPU memory", registers: r }),
      info: new Gauge({ name: "inference_model_info", help: "The model version being served", labelNames: ["model", "version"], registers: r }),
    };
    const g = (name: string, help: string): Gauge.Internal<string> => new Gauge({ name, help, labelNames, registers: r }).labels(model, "0");
    // counters and histograms at zero from the start, as prometheus_client shows them: a series a rule reads exists before its first event
    const c = (name: string, help: string): Counter.Internal => {
      const x = new Counter({ name, help, labelNames, registers: r }).labels(model, "0");
      x.inc(0);
      return x;
    };
    const h = (name: string, help: string, buckets: number[]): HistogramSeries => {
      const x = new CountedHistogram({ name, help, labelNames, buckets, registers: r });
      x.zero({ model_name: model, engine: "0" });
      return x.labels(model, "0");
    };
    const success = new Counter({ name: "vllm:request_success_total", help: "Count of successfully processed requests.", labelNames: [...labelNames, "finished_reason"], registers: r });
    this.v = {
      running: g("vllm:num_requests_running", "Number of requests in model execution batches."),
      waiting: g("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
      kvUsage: g("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."),
      prefixQueries: c("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens."),
      prefixHits: c("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens."),
      preemptions: c("vllm:num_preemptions_total", "Cumulative number of preemption from the engine."),
      promptTokens: c("vllm:prompt_tokens_total", "Number of prefill tokens processed."),
      generationTokens: c("vllm:generation_tokens_total", "Number of generation tokens processed."),
      finishedLength: success.labels(model, "0", "length"),
      finishedAbort: success.labels(model, "0", "abort"),
      ttft: h("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", latency),
      itl: h("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5]),
      e2e: h("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", latency),
      queue: h("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", [0.001, ...latency]),
      inference: h("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.", latency),
      prefill: h("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", latency),
      decode: h("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", latency),
    };
    this.v.finishedLength.inc(0);
    this.v.finishedAbort.inc(0);
    const gpu = [this.gpu];
    const d = (name: string, help: string): Gauge<(typeof DCGM_LABELS)[number]> => new Gauge({ name, help, labelNames: DCGM_LABELS, registers: gpu });
    this.dcgmSeries = {
      fbUsed: d("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
      fbFree: d("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
      util: d("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
      temp: d("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
      xid: d("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered."),
    };
    // one simulated H100 per replica; its UUID stable per host name, as a real one is per board
    let hash = 0;
    for (const ch of host) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    const hex = hash.toString(16).padStart(8, "0");
    this.dcgm = { gpu: "0", UUID: `GPU-${hex}-0000-4000-8000-${hex}0000`, pci_bus_id: "00000000:00:00.0", device: "nvidia0", modelName: "NVIDIA H100 80GB HBM3", Hostname: host };
    this.m.info.set({ model, version }, 1);
    for (const stage of STAGES) this.m.stage.zero({ stage });
    for (const result of ["acked", "failed"]) this.m.sessionWrites.inc({ result }, 0);
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
    this.v.queue.observe(seconds);
  }

  shed(): void {
    this.m.shed.inc();
  }

  sessionWrite(acked: boolean): void {
    this.m.sessionWrites.inc({ result: acked ? "acked" : "failed" });
  }

  /** A stream its client left: decoding stopped after `outputTokens`. */
  aborted(promptTokens: number, outputTokens: number): void {
    this.m.aborted.inc();
    this.v.finishedAbort.inc();
    this.v.promptTokens.inc(promptTokens);
    this.v.generationTokens.inc(outputTokens);
  }

  received(): void {
    this.m.received.inc();
  }

  oom(): void {
    this.m.ooms.inc();
  }

  /** The gap between two tokens of a stream, as its client saw them leave. */
  interToken(seconds: number): void {
    this.v.itl.observe(seconds);
  }

  /** Label children cached per version: prom-client would hash a label object on every call. */
  private series(version: string): VersionSeries {
    let v = this.byVersion.get(version);
    if (v === undefined) {
      v = { ok: this.m.requests.labels(this.model, version, "200"), duration: this.m.duration.labels(this.model, version), codes: new Map() };
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

  finished(f: Finished): void {
    const now = performance.now();
    this.series(f.version).duration.observe((now - f.t0) / 1000);
    this.v.ttft.observe((f.firstTokenAt - f.t0) / 1000);
    this.v.e2e.observe((now - f.t0) / 1000);
    this.v.prefill.observe(f.prefillMs / 1000);
    this.v.decode.observe(f.decodeMs / 1000);
    this.v.inference.observe((f.prefillMs + f.decodeMs) / 1000);
    this.v.promptTokens.inc(f.promptTokens);
    this.v.generationTokens.inc(f.outputTokens);
    this.v.prefixQueries.inc(f.promptTokens);
    if (f.cachedTokens > 0) this.v.prefixHits.inc(f.cachedTokens);
    this.v.finishedLength.inc();
    // a whole answer at once: its decode time spread evenly over its gaps, one observation per gap as vLLM makes
    if (!f.streamed && f.outputTokens > 1) {
      const gap = f.decodeMs / 1000 / (f.outputTokens - 1);
      for (let i = 1; i < f.outputTokens; i++) this.v.itl.observe(gap);
    }
    this.stages.tok.observe(f.tokenizeMs / 1000);
    this.stages.inf.observe((f.prefillMs + f.decodeMs) / 1000);
    this.stages.post.observe(f.postMs / 1000);
  }

  /** The gauges set from the replica's state now, then the exposition text. */
  async render(s: { inflight: number; maxBatch: number; queued: number; kvUsage: number; preemptions: number; capacityRps: number }): Promise<string> {
    this.v.running.set(s.inflight);
    this.v.preemptions.inc(s.preemptions - this.preempted);
    this.preempted = s.preemptions;
    this.v.waiting.set(s.queued);
    this.v.kvUsage.set(s.kvUsage);
    this.m.maxBatch.set(s.maxBatch);
    this.m.capacity.set(Math.round(s.capacityRps));
    return this.registry.metrics();
  }

  /** The DCGM exporter's fields for this replica's GPU now. */
  async renderGpu(s: { usedMiB: number; capacityMiB: number; inflight: number; maxBatch: number; xid: number }): Promise<string> {
    const util = s.xid !== 0 ? 0 : Math.min(100, (s.inflight / s.maxBatch) * 100);
    const g = this.dcgmSeries;
    g.xid.set(this.dcgm, s.xid);
    g.fbUsed.set(this.dcgm, Math.round(s.usedMiB));
    g.fbFree.set(this.dcgm, Math.max(0, Math.round(s.capacityMiB - s.usedMiB)));
    g.util.set(this.dcgm, Math.round(util));
    g.temp.set(this.dcgm, Math.round(38 + util * 0.4));
    return this.gpu.metrics();
  }
}
