import { parseDuration } from "./duration.ts";
import { quote } from "../text.ts";

/**
 * k6's threshold grammar, the part that reads well here:
 *   http_req_duration: p(99) < 500ms | avg < 200 | max < 1s | med < 100ms
 *   http_req_failed:   rate < 0.01
 *   time_to_first_token: p(95) < 300ms
 * Durations without a unit are milliseconds, as in k6.
 */
export const THRESHOLD_METRICS = ["http_req_duration", "http_req_failed", "time_to_first_token", "inter_token_latency"] as const;
export type ThresholdMetric = (typeof THRESHOLD_METRICS)[number];

export const SUPPORTED_P = [50, 90, 95, 99] as const as readonly number[];

export interface ParsedThreshold {
  metric: ThresholdMetric;
  agg: { kind: "p"; q: number } | { kind: "avg" | "max" | "med" | "rate" };
  op: "<" | "<=" | ">" | ">=";
  value: number;
  source: string;
}

const RE = /^\s*([a-z_]+)\s*:\s*(p\((\d+(?:\.\d+)?)\)|avg|max|med|rate)\s*(<=|>=|<|>)\s*(\S+)\s*$/;

export function parseThreshold(source: string): ParsedThreshold | string {
  const m = source.length > 200 ? null : RE.exec(source);
  if (m === null) return `cannot read threshold ${quote(source)}: expected METRIC: AGG OP VALUE, e.g. "http_req_duration: p(99) < 500ms" or "http_req_failed: rate < 0.01"`;
  const metric = m[1] as ThresholdMetric;
  if (!THRESHOLD_METRICS.includes(metric)) return `threshold ${quote(source)}: unknown metric ${quote(m[1])} (known: ${THRESHOLD_METRICS.join(", ")})`;
  const agg = m[3] !== undefined ? { kind: "p" as const, q: Number(m[3]) } : { kind: m[2] as "avg" | "max" | "med" | "rate" };
  if (metric === "http_req_failed" && agg.kind !== "rate") return `threshold ${quote(source)}: http_req_failed takes "rate"`;
  if (metric !== "http_req_failed" && agg.kind === "rate") return `threshold ${quote(source)}: "rate" goes with http_req_failed`;
  // The series keeps p50, p90, p95 and p99 (and k6 series only those): another q would be a guess.
  if (agg.kind === "p" && !SUPPORTED_P.includes(agg.q)) return `threshold ${quote(source)}: p(q) takes q = ${SUPPORTED_P.join(", ")}`;
  const raw = m[5] as string;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : metric === "http_req_failed" ? NaN : parseDuration(raw);
  if (value === undefined || !Number.isFinite(value)) return `threshold ${quote(source)}: ${quote(raw)} is not a ${metric === "http_req_failed" ? "number" : "duration"}`;
  return { metric, agg, op: m[4] as ParsedThreshold["op"], value, source };
}

export function thresholdError(source: string): string | undefined {
  const r = parseThreshold(source);
  return typeof r === "string" ? r : undefined;
}

export function compare(measured: number, op: ParsedThreshold["op"], limit: number): boolean {
  return op === "<" ? measured < limit : op === "<=" ? measured <= limit : op === ">" ? measured > limit : measured >= limit;
}
