import type { Logger } from "pino";
import type { z } from "zod";
import { FaultlineError } from "../errors.ts";
import type { FaultKind, FaultOf } from "../schema/faults.ts";
import type { Target } from "../schema/target.ts";

/**
 * Everything needed to undo one action, as plain JSON: recovery after a crash has nothing else.
 * `driver` names the backend that understands it, `op` which of its operations.
 */
export interface UndoRecord {
  driver: string;
  op?: string;
  [key: string]: unknown;
}

/** One change to the world. The engine journals `undo` before it calls `apply`. */
export interface Action<U extends UndoRecord = UndoRecord> {
  description: string;
  undo: U;
  apply(): Promise<void>;
  /**
   * Proof that the action took, run after its time is taken: the fault's clock starts when `apply`
   * returns, not when a check that waits on its effect (a connection that hangs) gives up. A proof
   * that fails fails the injection as `apply` would.
   */
  verify?(): Promise<void>;
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

/**
 * A fault kind on one backend: `plan` resolves the selector against the target and returns the
 * actions it would take (what `--dry-run` and a game day's preview show), each with its undo.
 */
export interface FaultImpl<K extends FaultKind> {
  plan(fault: FaultOf<K>, ctx: PlanContext): Promise<FaultPlan>;
}

/** One operation a backend can undo: the schema of its records (checked when `recover` reads a journal), the undo, and whether it is still in effect. */
export interface UndoOp<U extends UndoRecord> {
  schema: z.ZodType<U>;
  /** Idempotent: undoing something already undone succeeds. */
  revert(undo: U): Promise<void>;
  /** Whether the action is still in effect; throws when the backend cannot be asked. */
  isActive?(undo: U): Promise<boolean>;
}

export interface SweepResult {
  swept: string[];
  failed: { what: string; error: string }[];
}

/** A backend reverts and checks the actions it took from their undo records alone. */
export interface Backend {
  /** the journal's `driver` */
  name: string;
  /** A journaled record, checked against this backend's operations; the problem in words when it is not one of them. */
  parse(undo: UndoRecord): UndoRecord | string;
  revert(undo: UndoRecord): Promise<void>;
  isActive?(undo: UndoRecord): Promise<boolean>;
  /** Before a run plans its faults: reach the backend and set up what the target file declares (Toxiproxy's proxies). */
  prepare?(target: Target): Promise<void>;
  /** Finds and removes what faultline injected by its names and labels, journal or not (`recover --sweep`). */
  sweep?(where: { toxiproxy?: string }): Promise<SweepResult>;
}

/**
 * A backend made of undo operations, told apart by `op` (records without one take `defaultOp`: the
 * journals of older versions). Each record is checked against its operation's schema before anything
 * is reverted, so a hand-edited or truncated journal is an error with the reason, not a half undo.
 */
export function opsBackend(name: string, ops: Record<string, UndoOp<UndoRecord>>, extra: Pick<Backend, "prepare" | "sweep"> & { defaultOp?: string } = {}): Backend {
  // each op only ever sees records that passed its own schema
  const op = (u: UndoRecord): UndoOp<UndoRecord> | undefined => ops[u.op ?? extra.defaultOp ?? ""] as UndoOp<UndoRecord> | undefined;
  const checked = (u: UndoRecord): { o: UndoOp<UndoRecord>; u: UndoRecord } => {
    const bad = (why: string): FaultlineError => new FaultlineError("E_INVALID_INPUT", `malformed ${name} undo record ${JSON.stringify(u).slice(0, 300)}: ${why}`);
    const o = op(u);
    if (o === undefined) throw bad(`unknown op ${JSON.stringify(u.op)} (known: ${Object.keys(ops).join(", ")})`);
    const parsed = o.schema.safeParse({ ...u, op: u.op ?? extra.defaultOp });
    if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    return { o, u: parsed.data };
  };
  return {
    name,
    parse: (u) => {
      try {
        return checked(u).u;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
    revert: async (raw) => {
      const { o, u } = checked(raw);
      await o.revert(u);
    },
    isActive: async (raw) => {
      const { o, u } = checked(raw);
      return o.isActive === undefined ? true : o.isActive(u);
    },
    ...(extra.prepare ? { prepare: extra.prepare } : {}),
    ...(extra.sweep ? { sweep: extra.sweep } : {}),
  };
}
