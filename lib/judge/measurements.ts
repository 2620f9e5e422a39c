import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { bucketsIn, p, stats, windowOf } from "./context.ts";

/**
 * What a run measured that can be compared across runs: failover, alert, rescheduling and rollback
 * times and latency limits from its assertions (in ms), and the run's own client p99 and
 * availability. All but availability are "lower is better".
 */
export type MetricName = "failover" | "p99" | "alert" | "rescheduled" | "rollback" | "availability";

export interface Measurement {
  metric: MetricName;
  /** the assertion measured, or "run p99" / "run availability" */
  subject: string;
  value: number;
  unit: "ms" | "ratio";
}

function metricOf(a: AssertionResult): MetricName | undefined {
  if (a.kind === "failover") return "failover";
  if (a.kind === "alert" && a.unit === "s") return "alert";
  if (a.kind === "rescheduled") return "rescheduled";
  if (a.kind === "rollback") return "rollback";
  if ((a.kind === "slo" || a.kind === "threshold") && a.unit === "ms") return "p99";
  return undefined;
}

/** Measured values in ms: the judges report failover in ms and alerts, rollbacks and rescheduling in s. */
function inMs(a: AssertionResult): number | null {
  if (a.measured === null || a.measured === undefined || !Number.isFinite(a.measured)) return null;
  return a.unit === "s" ? a.measured * 1000 : a.unit === "ms" ? a.measured : null;
}

/** Every measurement of a run; an inconclusive assertion's value is left out: it may be the instrument's. */
export function measurementsOf(r: RunRecord): Measurement[] {
  const out: Measurement[] = [];
  for (const a of r.assertions) {
    const metric = metricOf(a);
    const v = inMs(a);
    if (metric !== undefined && v !== null && a.verdict !== "inconclusive") out.push({ metric, subject: a.name, value: v, unit: "ms" });
  }
  const series = r.series.load;
  if (series !== undefined && r.phases.length > 0) {
    const w = windowOf(r, "run");
    const p99 = p(series, w, "p99");
    if (p99 !== null) out.push({ metric: "p99", subject: "run p99", value: p99, unit: "ms" });
    const errorRate = stats(bucketsIn(series, w)).errorRate;
    if (errorRate !== null) out.push({ metric: "availability", subject: "run availability", value: 1 - errorRate, unit: "ratio" });
  }
  return out;
}
