import type { Logger } from "pino";
import type { Fault } from "../schema/experiment.ts";
import type { Target } from "../schema/target.ts";

/**
 * Everything needed to undo one action, as plain JSON: recovery after a crash has nothing else.
 * `driver` picks the Driver that understands the rest.
 */
export interface UndoRecord {
  driver: string;
  [key: string]: unknown;
}

/** One change to the world. The engine journals `undo` before it calls `apply`. */
export interface Action {
  description: string;
  undo: UndoRecord;
  apply(): Promise<void>;
}

export interface FaultPlan {
  /** What the selector matched, for the report and the confirmation prompt. */
  targets: string[];
  actions: Action[];
}

export interface PlanContext {
  runId: string;
  faultName: string;
  target: Target;
  log: Logger;
  /** `--time-scale`: the engine scales each fault's `at` and `duration`; a kind scales its own pacing (ramp steps) with it. */
  timeScale?: number;
}

/** A fault kind turns a validated fault into concrete, journal-able actions. */
export interface FaultKindHandler<F extends Fault = Fault> {
  kind: F["kind"];
  /** Whether this handler serves the target; a kind with several handlers takes the first that does (default: any target). */
  appliesTo?(target: Target): boolean;
  plan(fault: F, ctx: PlanContext): Promise<FaultPlan>;
}

/** A driver reverts and checks the actions of its backend from their undo records alone. */
export interface Driver {
  name: string;
  /** Idempotent: undoing something already undone succeeds. */
  revert(undo: UndoRecord): Promise<void>;
  /** Whether the action is still in effect; throws when the backend cannot be asked. */
  isActive?(undo: UndoRecord): Promise<boolean>;
}
