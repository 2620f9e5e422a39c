import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../clock.ts";
import { FaultlineError } from "../errors.ts";
import type { Backend, FaultPlan, PlanContext } from "../faults/types.ts";
import type { Experiment } from "../schema/experiment.ts";
import type { Fault } from "../schema/faults.ts";
import type { RunRecord } from "../schema/run-record.ts";
import type { Target } from "../schema/target.ts";
import type { RunReporter } from "./reporter.ts";

/** What a run injects with and reverts through; the fault catalog unless a test brings its own. */
export interface FaultLayer {
  plan(fault: Fault, ctx: PlanContext): Promise<FaultPlan>;
  backend(name: string): Backend;
  prepare(target: Target): Promise<void>;
}

export interface RunOptions {
  experiment: Experiment;
  experimentFile?: string;
  experimentSource?: string;
  /** A target document, or a reference: a built-in target's name (`local`, …) or a target file. */
  target: Target | string;
  targetFile?: string;
  /** Overrides for a built-in target's stack config (`--stack-set`). */
  stackSets?: string[];
  stackConfig?: string;
  /** Multiplies the load's rate (`--rate-scale`). */
  rateScale?: number;
  outDir: string;
  runId?: string;
  /** Plan every fault against the target, print what each would change, inject nothing. */
  dryRun?: boolean;
  /**
   * A calibration run: every phase as planned, every fault planned but none injected, only the
   * checks that must stay quiet without a fault judged (`faultline calibrate`).
   */
  calibration?: boolean;
  /** Asked once every fault is planned, before the baseline: false ends the run aborted, nothing injected. */
  confirm?: (plan: PlannedRun) => Promise<boolean>;
  /** Hands over a function that writes an operator's note into the run's timeline. */
  attachNotes?: (note: (text: string) => void) => void;
  /** Multiplies every phase and fault time; tests run experiments at a fraction of their length. */
  timeScale?: number;
  signal?: AbortSignal;
  clock?: Clock;
  reporters?: RunReporter[];
  log?: Logger;
  /** How often the loop wakes to inject, expire faults and check abort conditions. */
  tickMs?: number;
  faults?: FaultLayer;
}

export interface PlannedRun {
  experiment: string;
  target: string;
  /** kubernetes targets: the largest share of matching nodes or pods one fault may hit */
  blastRadius?: number;
  faults: { name: string; kind: string; targets: string[]; actions: string[]; atMs: number; durationMs: number }[];
}

export interface RunResult {
  record: RunRecord;
  runDir: string;
}

/** Why the loop stopped early: a condition, a signal, or a fault that no longer holds. */
export class RunAborted extends FaultlineError {
  constructor(message: string) {
    super("E_ABORTED", message);
  }
}

/** The instrument could not tell (the generator stalled, the host was starved): nothing blamed, nothing injected after. */
export class RunInconclusive extends FaultlineError {
  constructor(message: string) {
    super("E_INCONCLUSIVE", message);
  }
}

export function makeRunId(name: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${name}-${randomBytes(2).toString("hex")}`;
}
