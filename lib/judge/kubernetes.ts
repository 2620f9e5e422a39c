import type { CapacityAssertion, RescheduledAssertion } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord, TimelineEvent } from "../schema/run-record.ts";
import type { z } from "zod";
import { events, faultOf, missing, runEnd, windowOf } from "./context.ts";

interface Workload {
  ready: number;
  pods: number;
  byNode: Record<string, number>;
}

interface Capacity {
  allocatableGpus: number;
  requestedGpus: number;
  readyNodes: number;
}

const dataOf = <T>(e: TimelineEvent): T => e.data as unknown as T;

/** The last snapshot at or before `t`, then every one after it. */
function from<T>(snaps: TimelineEvent[], t: number): { at: number; v: T }[] {
  const i = snaps.findLastIndex((e) => e.t <= t);
  return snaps.slice(Math.max(0, i)).map((e) => ({ at: Math.max(e.t, t), v: dataOf<T>(e) }));
}

/**
 * Every replica the fault took is Ready again within `within`: as many Ready replicas as there were
 * when it hit, none of them on a node the fault took. Measured: seconds from the fault taking
 * effect to the first snapshot where that holds.
 */
export function judgeRescheduled(a: z.infer<typeof RescheduledAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const fault = faultOf(record, a.fault);
  const run = windowOf(record, "run");
  if (fault?.injectedAt === undefined) return missing(base, run, `fault ${a.fault} never took effect`);
  const t0 = fault.injectedAt;
  const w = { start: t0, end: t0 + a.within };
  const snaps = events(record, "k8s.workload");
  if (snaps.length === 0) return missing(base, w, "no kubernetes workload observations (is the target a kubernetes one?)");
  const series = from<Workload>(snaps, t0);
  const want = a.replicas ?? series[0]?.v.ready ?? 0;
  const lost = new Set(fault.targets);
  const holds = (v: Workload): boolean => v.ready >= want && Object.entries(v.byNode).every(([node, n]) => n === 0 || !lost.has(node));
  // the first snapshot after the fault hit that is whole again; one that was never broken needs no rescheduling
  const broken = series.findIndex((s) => !holds(s.v));
  const evidence = series.slice(0, 40).map((s) => ({ t: s.at, ready: s.v.ready, pods: s.v.pods, onLostNodes: [...lost].reduce((sum, n) => sum + (s.v.byNode[n] ?? 0), 0) }));
  if (broken < 0) {
    return { ...base, verdict: "pass", measured: 0, limit: a.within / 1000, unit: "s", window: w, message: `no replica was lost: ${want} stayed Ready off the fault's nodes`, evidence };
  }
  const healed = series.findIndex((s, i) => i > broken && holds(s.v));
  const at = healed > 0 ? (series[healed] as { at: number }).at : undefined;
  const took = at === undefined ? null : (at - t0) / 1000;
  const ok = took !== null && took * 1000 <= a.within;
  const lowest = Math.min(...series.map((s) => s.v.ready));
  return {
    ...base,
    verdict: ok ? "pass" : "fail",
    measured: took,
    limit: a.within / 1000,
    unit: "s",
    window: w,
    message:
      took === null
        ? `replicas never all Ready again off the lost nodes (wanted ${want}; the last snapshot had ${series.at(-1)?.v.ready ?? 0}, the lowest ${lowest}) before ${((runEnd(record) - t0) / 1000).toFixed(1)}s`
        : `${want} replicas Ready again off the lost nodes ${took.toFixed(1)}s after the fault (limit ${(a.within / 1000).toFixed(0)}s; lowest ${lowest})`,
    evidence,
  };
}

/** The GPU headroom left while the fault holds: usable GPUs ÷ GPUs the workload requests, at its lowest. */
export function judgeCapacity(a: z.infer<typeof CapacityAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const fault = a.fault === undefined ? undefined : faultOf(record, a.fault);
  if (a.fault !== undefined && fault?.injectedAt === undefined) return missing(base, windowOf(record, "run"), `fault ${a.fault} never took effect`);
  const w = fault?.injectedAt !== undefined ? { start: fault.injectedAt, end: fault.revertedAt ?? runEnd(record) } : windowOf(record, "fault");
  const snaps = from<Capacity>(events(record, "k8s.capacity"), w.start).filter((s) => s.at <= w.end);
  if (snaps.length === 0) return missing(base, w, "no kubernetes capacity observations (is the target a kubernetes one?)");
  const ratios = snaps.map((s) => ({ t: s.at, ...s.v, ratio: s.v.requestedGpus > 0 ? s.v.allocatableGpus / s.v.requestedGpus : Infinity }));
  const worst = ratios.reduce((m, r) => (r.ratio < m.ratio ? r : m));
  const ok = worst.ratio >= a.minRatio;
  return {
    ...base,
    verdict: ok ? "pass" : "fail",
    measured: Number.isFinite(worst.ratio) ? worst.ratio : null,
    limit: a.minRatio,
    unit: "ratio",
    window: w,
    message: `at its lowest ${worst.allocatableGpus} usable GPUs on ${worst.readyNodes} nodes for ${worst.requestedGpus} requested: ${Number.isFinite(worst.ratio) ? `${(worst.ratio * 100).toFixed(0)}%` : "no request"} (≥ ${(a.minRatio * 100).toFixed(0)}%)`,
    evidence: ratios.slice(0, 40),
  };
}
