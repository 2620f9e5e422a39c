import type { StackConfig } from "./config.ts";

/** The serving engines whose metric names the alert pack knows. */
export const ENGINES = ["vllm", "sglang", "tgi", "triton"] as const;
export type Engine = (typeof ENGINES)[number];

/** The seed's three stages of a request, each with a latency budget. */
export const STAGES = ["tokenization", "inference", "postprocessing"] as const;
export type Stage = (typeof STAGES)[number];

/** A PromQL expression over a window of `w` seconds. */
type Over = (w: number) => string;

/**
 * What one engine exports for each signal the alerts read, as PromQL (null: the engine exports
 * nothing for it, and the pack says so instead of writing a rule that can never fire).
 */
interface EngineSignals {
  /** where the names come from */
  source: string;
  /** requests waiting for a batch slot, fleet-wide */
  waiting: string | null;
  /** the fullest KV cache, 0–1 */
  kvUsage: string | null;
  /** prefix-cache hits ÷ tokens looked up, 0–1 (no value while nothing is looked up) */
  prefixHitRatio: Over | null;
  /** a stage's p99 (or mean, where only counters exist), seconds */
  stages: Partial<Record<Stage, Over>>;
}

const p99 = (histogram: string, match = ""): Over => (w) => `histogram_quantile(0.99, sum by (le) (rate(${histogram}_bucket${match}[${w}s])))`;

const VLLM: EngineSignals = {
  source: "vLLM (v1 engine): vllm/v1/metrics/loggers.py, docs/design/metrics.md",
  waiting: "sum(vllm:num_requests_waiting)",
  kvUsage: "max(vllm:kv_cache_usage_perc)",
  prefixHitRatio: (w) => `sum(rate(vllm:prefix_cache_hits_total[${w}s])) / sum(rate(vllm:prefix_cache_queries_total[${w}s]))`,
  // vLLM's RUNNING phase (prefill + decode); it exports no tokenisation or post-processing stage
  stages: { inference: p99("vllm:request_inference_time_seconds") },
};

/** One table per engine: every name cited from the engine's own metrics reference. */
const SIGNALS: Record<Engine | "faultline", EngineSignals> = {
  vllm: VLLM,
  sglang: {
    source: "SGLang: docs/references/production_metrics.md (sglang:* with --enable-metrics)",
    waiting: "sum(sglang:num_queue_reqs)",
    kvUsage: "max(sglang:token_usage)",
    prefixHitRatio: () => "avg(sglang:cache_hit_rate)",
    stages: {},
  },
  tgi: {
    source: "Text Generation Inference: docs/source/reference/metrics.md (tgi_*)",
    waiting: "sum(tgi_queue_size)",
    kvUsage: null,
    prefixHitRatio: null,
    // validation is where TGI tokenises
    stages: { tokenization: p99("tgi_request_validation_duration"), inference: p99("tgi_request_inference_duration") },
  },
  triton: {
    source: "Triton Inference Server: docs/user_guide/metrics.md (nv_inference_*); TensorRT-LLM backend (nv_trt_llm_*)",
    waiting: "sum(nv_inference_pending_request_count)",
    kvUsage: `max(nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction"})`,
    prefixHitRatio: null,
    // Triton's durations are cumulative counters (µs): a mean per request, not a p99
    stages: Object.fromEntries(
      (
        [
          ["tokenization", "input"],
          ["inference", "infer"],
          ["postprocessing", "output"],
        ] as const
      ).map(([stage, t]) => [stage, (w: number) => `sum(rate(nv_inference_compute_${t}_duration_us[${w}s])) / sum(rate(nv_inference_request_success[${w}s])) / 1e6`]),
    ),
  },
  // the reference stack's simulated replica: vLLM's names, and the seed's three stages it times itself
  faultline: {
    ...VLLM,
    source: "the reference stack's replica (lib/stack/replica-metrics.ts): vLLM's names",
    stages: Object.fromEntries(STAGES.map((s) => [s, p99("inference_stage_duration_seconds", `{stage="${s}"}`)])),
  },
};

/** Metric names upstream retired, and what replaced them: a rule on one of them reads nothing. */
export const RETIRED: Readonly<Record<string, { use: string; why: string }>> = {
  "vllm:gpu_cache_usage_perc": { use: "vllm:kv_cache_usage_perc", why: "deprecated in vLLM 0.9, hidden in 0.10, removed after" },
  "vllm:gpu_prefix_cache_queries_total": { use: "vllm:prefix_cache_queries_total", why: "deprecated in vLLM 0.9" },
  "vllm:gpu_prefix_cache_hits_total": { use: "vllm:prefix_cache_hits_total", why: "deprecated in vLLM 0.9" },
  "vllm:time_per_output_token_seconds": { use: "vllm:inter_token_latency_seconds", why: "renamed in vLLM's v1 engine" },
  "vllm:num_requests_swapped": { use: "vllm:num_requests_waiting", why: "v0 engine only: v1 does not swap" },
  "vllm:cpu_cache_usage_perc": { use: "vllm:kv_cache_usage_perc", why: "v0 engine only" },
};

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export type RuleMaker = (alert: string, expr: string, severity: "critical" | "warning", summary: string, forOverride?: string, labels?: Record<string, string>) => AlertRule;

/** The default KV-cache hit-rate floor the pack writes when the config sets none (the seed's 70 %). */
const PACK_HIT_RATE_PCT = 70;

/**
 * The engine's and the GPU's alerts, on `engine`'s names, every threshold from the config: queue
 * depth, KV cache use and hit rate, each stage's latency budget, and the GPU's memory,
 * utilisation, temperature and XID errors (DCGM exporter names, whatever the engine). A signal
 * the engine does not export yields a note in `skipped`, not a rule that can never fire.
 */
export function engineRules(c: StackConfig, engine: Engine | "faultline", rule: RuleMaker): { rules: AlertRule[]; skipped: string[] } {
  const a = c.alerts;
  const w = a.windowSeconds;
  const s = SIGNALS[engine];
  const rules: AlertRule[] = [];
  const skipped: string[] = [];
  const add = (what: string, made: AlertRule | null): void => {
    if (made) rules.push(made);
    else skipped.push(`${what}: ${engine} exports no such metric`);
  };
  add("QueueDepthHigh", s.waiting === null ? null : rule("QueueDepthHigh", `${s.waiting} > ${a.queueDepth}`, "warning", `more than ${a.queueDepth} requests waiting for a batch slot across the fleet`));
  add("KVCacheUsageHigh", s.kvUsage === null ? null : rule("KVCacheUsageHigh", `${s.kvUsage} * 100 > ${a.kvCacheUsagePct}`, "warning", `a KV cache more than ${a.kvCacheUsagePct}% full: preemptions and then errors follow`, `${a.kvCacheForSeconds}s`));
  const hitRate = a.kvCacheHitRatePct ?? (engine === "faultline" ? undefined : PACK_HIT_RATE_PCT);
  if (hitRate !== undefined) {
    add("KVCacheHitRateLow", s.prefixHitRatio === null ? null : rule("KVCacheHitRateLow", `${s.prefixHitRatio(w)} * 100 < ${hitRate}`, "warning", `prefix-cache hits below ${hitRate}% of the tokens looked up`));
  }
  for (const stage of STAGES) {
    const budget = a.stageBudgetsMs[stage];
    const q = s.stages[stage];
    add(`StageLatencyBudget{stage="${stage}"}`, q ? rule("StageLatencyBudget", `${q(w)} * 1000 > ${budget}`, "warning", `${stage} over its ${budget}ms budget`, undefined, { stage }) : null);
  }
  rules.push(
    rule("GPUMemoryHigh", `DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100 > ${a.gpuMemoryPct}`, "warning", `GPU memory above ${a.gpuMemoryPct}%`, "0s"),
    rule("GPUUtilizationHigh", `DCGM_FI_DEV_GPU_UTIL > ${a.gpuUtilizationPct}`, "warning", `GPU utilisation above ${a.gpuUtilizationPct}%: scale out`),
    rule("GPUTemperatureHigh", `DCGM_FI_DEV_GPU_TEMP >= ${a.gpuTemperatureC}`, "warning", `GPU at ${a.gpuTemperatureC}°C or more`),
    // the exporter's XID field holds the last XID the GPU reported (a gauge), 0 until one is
    rule("GPUXidError", `DCGM_FI_DEV_XID_ERRORS > 0`, "critical", "a GPU reported an XID error: drain its node", "0s"),
  );
  return { rules, skipped };
}

/** The pack `faultline rules export` writes: the engine's and the GPU's alerts as a Prometheus rule file, with where the names come from. */
export function alertPack(c: StackConfig, engine: Engine): { groups: unknown[]; source: string; skipped: string[] } {
  const rule: RuleMaker = (alert, expr, severity, summary, forOverride, labels) => ({
    alert,
    expr,
    for: forOverride ?? `${c.alerts.forSeconds}s`,
    labels: { severity, source: "faultline", engine, ...labels },
    annotations: { summary },
  });
  const { rules, skipped } = engineRules(c, engine, rule);
  return { groups: [{ name: `faultline-${engine}`, rules }], source: SIGNALS[engine].source, skipped };
}
