import type { FaultPlan } from "../faults/types.ts";
import type { Fault } from "../schema/faults.ts";
import { RUN_SCHEMA_VERSION } from "../schema/run-record.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import type { Target } from "../schema/target.ts";
import type { Experiment } from "../schema/experiment.ts";
import type { PlannedRun, RunOptions } from "./types.ts";

interface Planned {
  name: string;
  fault: Fault;
  at: number;
  until: number;
  plan: FaultPlan;
}

/** What `--dry-run` says each planned action would do, and when. */
export function dryRunLines(s: Planned): string[] {
  return s.plan.actions.map((a) => `${s.name} at +${(s.at / 1000).toFixed(1)}s for ${((s.until - s.at) / 1000).toFixed(1)}s would: ${a.description}`);
}

/** The plan as a game day's operator is shown it before confirming. */
export function plannedRun(experiment: string, target: Target, planned: readonly Planned[]): PlannedRun {
  return {
    experiment,
    target: target.metadata.name,
    ...(target.kubernetes ? { blastRadius: target.kubernetes.maxFraction } : {}),
    faults: planned.map((s) => ({ name: s.name, kind: s.fault.kind, targets: s.plan.targets, actions: s.plan.actions.map((a) => a.description), atMs: s.at, durationMs: s.until - s.at })),
  };
}

/** A run's record as it starts: what it runs, against what, with which faultline. */
export function newRunRecord(opts: RunOptions, runId: string, startedAt: number, timeScale: number, faultline: string): RunRecord {
  const exp = opts.experiment;
  return {
    schemaVersion: RUN_SCHEMA_VERSION,
    runId,
    experiment: { name: exp.metadata.name, file: opts.experimentFile, hypothesis: exp.hypothesis, description: exp.metadata.description },
    target: { name: typeof opts.target === "string" ? opts.target : opts.target.metadata.name, ...(opts.targetFile ? { file: opts.targetFile } : {}) },
    startedAt,
    timeScale,
    phases: [],
    faults: [],
    assertions: [],
    timeline: [],
    series: { probes: {} },
    environment: { faultline, node: process.versions.node, platform: `${process.platform}/${process.arch}` },
    spec: exp,
    ...(opts.calibration ? { calibration: true } : {}),
    ...(opts.experimentSource !== undefined ? { source: opts.experimentSource } : {}),
  };
}

/** A run's verdict from its checks: a failure is the system's whatever else happened; inconclusive only when nothing failed. */
export function verdictOf(assertions: readonly AssertionResult[]): { verdict: "pass" | "fail" | "inconclusive"; reason?: string } {
  const failed = assertions.filter((a) => a.verdict === "fail");
  const decisive = failed.length > 0 ? failed : assertions.filter((a) => a.verdict === "inconclusive");
  if (decisive.length === 0) return { verdict: "pass" };
  return { verdict: failed.length > 0 ? "fail" : "inconclusive", reason: decisive.map((a) => `${a.name}: ${a.message}`).join("; ") };
}

/**
 * Alerts that must fire within a limit the run does not watch to the end of: the phases after their
 * fault's start (time-scaled; `within` is not: Prometheus' windows do not shrink with the run) are
 * shorter than `within`, so a silence can only be inconclusive. Said before anything is injected.
 */
export function alertsOutrunning(exp: Experiment, planned: readonly Pick<Planned, "name" | "at">[], faultPhaseMs: number, recoveryMs: number): string[] {
  const out: string[] = [];
  for (const a of exp.assertions) {
    // an alert with no fault is timed from the start of its `during` window (the baseline's, for
    // the whole run), which the plan does not place: only fault-timed alerts are checked here
    if (a.kind !== "alert" || !a.fires || a.fault === undefined) continue;
    const at = planned.find((s) => s.name === a.fault)?.at;
    if (at === undefined) continue;
    const watched = faultPhaseMs + recoveryMs - at;
    if (watched < a.within) {
      out.push(`${a.name}: ${a.alert} must fire within ${a.within / 1000}s of ${a.fault}, but the run watches only ${(watched / 1000).toFixed(1)}s after it: if it stays silent, the check is inconclusive, not a fail (lengthen the recovery, or shorten \`within\`)`);
    }
  }
  return out;
}
