import type { Clock } from "../clock.ts";
import { FaultlineError, errorMessage } from "../errors.ts";
import type { Action, Backend, FaultPlan } from "../faults/types.ts";
import type { Fault } from "../schema/faults.ts";
import type { ActionRecord, FaultRecord } from "../schema/run-record.ts";
import type { Journal } from "./journal.ts";

interface ActiveAction {
  id: string;
  fault: string;
  action: Action;
  record: ActionRecord;
}

interface ScheduledFault {
  fault: Fault;
  name: string;
  /** offsets from the start of the fault phase, scaled */
  at: number;
  until: number;
  plan: FaultPlan;
  record: FaultRecord;
  state: "waiting" | "active" | "done";
}

export interface SchedulerOptions {
  journal: Journal;
  clock: Clock;
  backend(name: string): Backend;
  /** when the run started: a journaled action's deadline is absolute */
  runStartedAt: number;
  event(type: string, message: string, data?: Record<string, unknown>): void;
  onActiveFaults(names: string[]): void;
}

/** A backend that does not answer may miss a check or two: contact counts as lost after this many in a row. */
const MISSED_CHECKS = 3;
const CHECK_EVERY_MS = 1000;

/**
 * Injects each planned fault at its time and reverts it when its duration is over — journal first,
 * then act; undo newest first — and proves while faults are active that they still hold.
 */
export class FaultScheduler {
  private readonly scheduled: ScheduledFault[] = [];
  private readonly active: ActiveAction[] = [];
  /** what could not be reverted, in words: the run ends `error` with these */
  readonly revertFailures: string[] = [];
  private failedChecks = 0;
  private readonly o: SchedulerOptions;

  constructor(o: SchedulerOptions) {
    this.o = o;
  }

  add(fault: Fault, name: string, at: number, until: number, plan: FaultPlan, record: FaultRecord): void {
    this.scheduled.push({ fault, name, at, until, plan, record, state: "waiting" });
  }

  /** How long the fault phase lasts: until the last fault ends. */
  get faultPhaseMs(): number {
    return Math.max(0, ...this.scheduled.map((s) => s.until));
  }

  get planned(): readonly { name: string; fault: Fault; at: number; until: number; plan: FaultPlan }[] {
    return this.scheduled;
  }

  private activeNames(): string[] {
    return this.scheduled.filter((s) => s.state === "active").map((s) => s.name);
  }

  /** At `elapsed` into the fault phase: reverts what is due to end, then injects what is due to start. */
  async tick(elapsed: number): Promise<void> {
    for (const s of this.scheduled) if (s.state === "active" && elapsed >= s.until) await this.revertFault(s, "duration elapsed");
    for (const s of this.scheduled) if (s.state === "waiting" && elapsed >= s.at) await this.inject(s);
  }

  /** Every fault still active, newest first; then any action left over (a fault that failed half-way). */
  async revertAll(why: string): Promise<number> {
    const left = this.active.length;
    for (const s of [...this.scheduled].reverse()) if (s.state === "active") await this.revertFault(s, why);
    if (this.active.length > 0) await this.revertActions([...this.active]);
    return left;
  }

  /**
   * The fault's whole plan is journaled in one durable write, then its actions are made at once: a
   * region's twelve toxics take effect together, not one fsync apart, and a crash after the write
   * still leaves every one of them for recover. An action that fails stays listed as active, so the
   * revert that follows covers whatever it half did.
   */
  private async inject(s: ScheduledFault): Promise<void> {
    s.state = "active";
    const actions = s.plan.actions.map((action, i) => {
      const rec: ActionRecord = { id: `${s.name}#${i}`, description: action.description };
      s.record.actions[i] = rec;
      return { id: rec.id, fault: s.name, action, record: rec };
    });
    this.o.journal.appendAll(actions.map((a) => ({ type: "inject", actionId: a.id, fault: s.name, description: a.action.description, deadline: this.o.runStartedAt + s.until, undo: a.action.undo })));
    this.active.push(...actions);
    const outcomes = await Promise.allSettled(
      actions.map(async (a) => {
        await a.action.apply();
        a.record.injectedAt = this.o.clock.now();
        await a.action.verify?.();
      }),
    );
    this.o.journal.appendAll(actions.map((a, i) => (outcomes[i]?.status === "rejected" ? { type: "inject-failed", actionId: a.id, error: errorMessage(outcomes[i].reason) } : { type: "injected", actionId: a.id })));
    // The fault takes effect with its first action, not its last.
    const first = Math.min(...actions.map((a) => a.record.injectedAt ?? Infinity));
    if (Number.isFinite(first)) s.record.injectedAt = first;
    const failed = outcomes.findIndex((o) => o.status === "rejected");
    if (failed >= 0) {
      for (const [i, o] of outcomes.entries()) if (o.status === "rejected") (actions[i] as ActiveAction).record.error = errorMessage(o.reason);
      const a = actions[failed] as ActiveAction;
      throw new FaultlineError("E_DRIVER", `injecting ${s.name} failed at ${a.action.description}: ${a.record.error}`, { cause: (outcomes[failed] as PromiseRejectedResult).reason });
    }
    this.o.event("fault.injected", `${s.name} injected: ${s.fault.kind} on ${s.plan.targets.join(", ")}`, { fault: s.name, kind: s.fault.kind, targets: s.plan.targets });
    this.o.onActiveFaults(this.activeNames());
  }

  private async revertFault(s: ScheduledFault, why: string): Promise<void> {
    if (s.state !== "active") return;
    s.state = "done";
    await this.revertActions(this.active.filter((a) => a.fault === s.name));
    s.record.revertedAt = this.o.clock.now();
    this.o.event("fault.reverted", `${s.name} reverted (${why})`, { fault: s.name, kind: s.fault.kind });
    this.o.onActiveFaults(this.activeNames());
  }

  private async revertActions(actions: ActiveAction[]): Promise<void> {
    for (const a of [...actions].reverse()) {
      const i = this.active.indexOf(a);
      if (i >= 0) this.active.splice(i, 1);
      try {
        await this.o.backend(a.action.undo.driver).revert(a.action.undo);
        this.o.journal.append({ type: "reverted", actionId: a.id, by: "run" });
        a.record.revertedAt = this.o.clock.now();
      } catch (err) {
        const error = errorMessage(err);
        this.o.journal.append({ type: "revert-failed", actionId: a.id, error, by: "run" });
        a.record.error = error;
        this.revertFailures.push(`${a.action.description}: ${error}`);
        this.o.event("fault.revert-failed", `could not revert ${a.action.description}: ${error}`, { fault: a.fault, actionId: a.id });
      }
    }
  }

  private lastCheck: number | undefined;

  /** While faults are active, checkActive at most once a second. */
  async checkActiveEverySecond(): Promise<void> {
    const now = this.o.clock.now();
    if (this.active.length === 0) {
      this.lastCheck = undefined;
      return;
    }
    this.lastCheck ??= now;
    if (now - this.lastCheck < CHECK_EVERY_MS) return;
    this.lastCheck = now;
    await this.checkActive();
  }

  /** Proves the active faults still hold; a backend that vanished makes the run an error. */
  async checkActive(): Promise<void> {
    for (const a of this.active) {
      const backend = this.o.backend(a.action.undo.driver);
      if (backend.isActive === undefined) continue;
      let still: boolean;
      try {
        still = await backend.isActive(a.action.undo);
        this.failedChecks = 0;
      } catch (err) {
        this.failedChecks++;
        if (this.failedChecks < MISSED_CHECKS) {
          this.o.event("observer.error", `checking ${a.fault}: ${errorMessage(err)} (${this.failedChecks} in a row)`, { fault: a.fault });
          return;
        }
        throw new FaultlineError("E_DRIVER", `lost contact with the fault backend of ${a.fault}: ${errorMessage(err)}`, { cause: err });
      }
      if (!still) throw new FaultlineError("E_DRIVER", `${a.action.description} disappeared while active (removed outside faultline?)`);
    }
  }
}
