import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { pino } from "pino";
import { systemClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { FaultlineError, errorMessage } from "../errors.ts";
import { driverFor, planFault } from "../faults/registry.ts";
import type { Action, FaultPlan } from "../faults/types.ts";
import { ToxiproxyApi } from "../faults/toxiproxy/client.ts";
import { abortTriggered, judgeProbeAssertion, judgeSteadyState } from "../judge/probes.ts";
import { ProbeRunner } from "../observe/probes.ts";
import type { Experiment, Fault, PhaseName } from "../spec/experiment.ts";
import { faultName } from "../spec/experiment.ts";
import { RUN_SCHEMA_VERSION } from "../spec/run-record.ts";
import type { ActionRecord, AssertionResult, FaultRecord, PhaseId, RunRecord, TimelineEvent, Verdict } from "../spec/run-record.ts";
import type { Target } from "../spec/target.ts";
import { Journal } from "./journal.ts";
import { recoverAll } from "./recover.ts";
import { multiplex } from "./reporter.ts";
import type { RunReporter } from "./reporter.ts";

export interface RunOptions {
  experiment: Experiment;
  experimentFile?: string;
  target: Target;
  targetFile?: string;
  outDir: string;
  runId?: string;
  /** Multiplies every phase and fault time; tests run experiments at a fraction of their length. */
  timeScale?: number;
  signal?: AbortSignal;
  clock?: Clock;
  reporters?: RunReporter[];
  log?: Logger;
  /** How often the loop wakes to inject, expire faults and check abort conditions. */
  tickMs?: number;
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

export function makeRunId(name: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${name}-${randomBytes(2).toString("hex")}`;
}

interface ActiveAction {
  id: string;
  fault: string;
  action: Action;
  record: ActionRecord;
}

interface ScheduledFault {
  fault: Fault;
  name: string;
  at: number;
  until: number;
  plan: FaultPlan;
  record: FaultRecord;
  state: "waiting" | "active" | "done";
}

const HEALTH_CHECK_MS = 1000;

export async function runExperiment(opts: RunOptions): Promise<RunResult> {
  const clock = opts.clock ?? systemClock;
  const scale = opts.timeScale ?? 1;
  const tickMs = opts.tickMs ?? 100;
  const exp = opts.experiment;
  const runId = opts.runId ?? makeRunId(exp.metadata.name, clock.now());
  const runDir = join(opts.outDir, runId);
  await mkdir(runDir, { recursive: true });
  const log = (opts.log ?? pino({ level: "silent" })).child({ runId });
  const report = multiplex(opts.reporters ?? [], (err) => log.warn({ err }, "a reporter failed"));

  const record: RunRecord = {
    schemaVersion: RUN_SCHEMA_VERSION,
    runId,
    experiment: { name: exp.metadata.name, file: opts.experimentFile, hypothesis: exp.hypothesis, description: exp.metadata.description },
    target: { name: opts.target.metadata.name, file: opts.targetFile },
    startedAt: clock.now(),
    timeScale: scale,
    phases: [],
    faults: [],
    assertions: [],
    timeline: [],
    series: { probes: {} },
  };
  const event = (type: string, message: string, data?: Record<string, unknown>): void => {
    const e: TimelineEvent = data === undefined ? { t: clock.now(), type, message } : { t: clock.now(), type, message, data };
    record.timeline.push(e);
    log.info({ event: type, ...data }, message);
    report.onEvent(e);
  };
  report.onStart(record);

  // Faults left behind by runs that crashed are reverted before this run touches anything.
  for (const r of await recoverAll(opts.outDir)) {
    event("recover", `reverted ${r.reverted.length} action(s) left by ${r.runDir}${r.failed.length ? `; ${r.failed.length} could not be reverted` : ""}`, {
      runDir: r.runDir,
      failed: r.failed,
    });
    if (r.failed.length > 0) {
      throw new FaultlineError("E_REVERT", `faults left by ${r.runDir} could not be reverted: ${r.failed.map((f) => f.error).join("; ")}`);
    }
  }

  const journal = new Journal(runDir, () => clock.now());
  journal.append({ type: "run-start", runId, pid: process.pid, host: hostname(), experiment: exp.metadata.name });
  const active: ActiveAction[] = [];
  const revertFailures: string[] = [];
  const scheduled: ScheduledFault[] = [];
  let probes: ProbeRunner | undefined;
  let verdict: Verdict = "pass";
  let reason: string | undefined;
  let currentPhase: { name: PhaseId; start: number; end?: number } | undefined;

  const stop = new AbortController();
  const onOuterAbort = (): void => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (opts.signal?.aborted) onOuterAbort();

  const enterPhase = (name: PhaseId, plannedMs: number): void => {
    if (currentPhase) currentPhase.end = clock.now();
    currentPhase = { name, start: clock.now() };
    record.phases.push(currentPhase);
    event("phase", `${name} phase (${Math.round(plannedMs)}ms)`, { phase: name, plannedMs });
    report.onPhase(name, plannedMs);
  };
  const activeNames = (): string[] => scheduled.filter((s) => s.state === "active").map((s) => s.name);

  const revertActions = async (actions: ActiveAction[], why: string): Promise<void> => {
    for (const a of [...actions].reverse()) {
      const i = active.indexOf(a);
      if (i >= 0) active.splice(i, 1);
      try {
        await driverFor(a.action.undo.driver).revert(a.action.undo);
        journal.append({ type: "reverted", actionId: a.id, by: "run" });
        a.record.revertedAt = clock.now();
      } catch (err) {
        const error = errorMessage(err);
        journal.append({ type: "revert-failed", actionId: a.id, error, by: "run" });
        a.record.error = error;
        revertFailures.push(`${a.action.description}: ${error}`);
        event("fault.revert-failed", `could not revert ${a.action.description}: ${error}`, { fault: a.fault, actionId: a.id });
      }
    }
    log.debug({ why }, "reverted actions");
  };

  const revertFault = async (s: ScheduledFault, why: string): Promise<void> => {
    if (s.state !== "active") return;
    s.state = "done";
    await revertActions(active.filter((a) => a.fault === s.name), why);
    s.record.revertedAt = clock.now();
    event("fault.reverted", `${s.name} reverted (${why})`, { fault: s.name, kind: s.fault.kind });
    report.onActiveFaults(activeNames());
  };

  const injectFault = async (s: ScheduledFault): Promise<void> => {
    s.state = "active";
    s.plan.actions.forEach((action, i) => {
      s.record.actions[i] = { id: `${s.name}#${i}`, description: action.description };
    });
    for (const [i, action] of s.plan.actions.entries()) {
      const id = `${s.name}#${i}`;
      const rec = s.record.actions[i] as ActionRecord;
      const entry: ActiveAction = { id, fault: s.name, action, record: rec };
      // Journal first, then act: a crash between the two leaves a line that recover can undo.
      journal.append({ type: "inject", actionId: id, fault: s.name, description: action.description, deadline: record.startedAt + s.until, undo: action.undo });
      active.push(entry);
      try {
        await action.apply();
      } catch (err) {
        journal.append({ type: "inject-failed", actionId: id, error: errorMessage(err) });
        rec.error = errorMessage(err);
        throw new FaultlineError("E_DRIVER", `injecting ${s.name} failed at ${action.description}: ${errorMessage(err)}`, { cause: err });
      }
      journal.append({ type: "injected", actionId: id });
      rec.injectedAt = clock.now();
    }
    s.record.injectedAt = clock.now();
    event("fault.injected", `${s.name} injected: ${s.fault.kind} on ${s.plan.targets.join(", ")}`, {
      fault: s.name,
      kind: s.fault.kind,
      targets: s.plan.targets,
    });
    report.onActiveFaults(activeNames());
  };

  /** Proves the active faults still hold; a backend that vanished makes the run an error. */
  const checkActive = async (): Promise<void> => {
    for (const a of active) {
      const driver = driverFor(a.action.undo.driver);
      if (driver.isActive === undefined) continue;
      let still: boolean;
      try {
        still = await driver.isActive(a.action.undo);
      } catch (err) {
        throw new FaultlineError("E_DRIVER", `lost contact with the fault backend of ${a.fault}: ${errorMessage(err)}`, { cause: err });
      }
      if (!still) throw new FaultlineError("E_DRIVER", `${a.action.description} disappeared while active (removed outside faultline?)`);
    }
  };

  const checkAbort = (): void => {
    if (stop.signal.aborted) {
      const r: unknown = stop.signal.reason;
      throw r instanceof RunAborted ? r : new RunAborted(r instanceof FaultlineError ? r.message : `interrupted: ${errorMessage(r)}`);
    }
    const now = clock.now();
    for (const c of exp.abortWhen) {
      const why = abortTriggered(c, probes?.samples[c.probe] ?? [], now);
      if (why !== undefined) throw new RunAborted(`abort condition: ${why}`);
    }
  };

  /** Waits out a phase, waking every tick; `onTick` may act (inject, expire) and may throw. */
  const runPhase = async (ms: number, onTick?: (elapsed: number) => Promise<void>): Promise<void> => {
    const start = clock.now();
    let lastHealth = start;
    for (;;) {
      checkAbort();
      const elapsed = clock.now() - start;
      if (onTick) await onTick(elapsed);
      if (active.length > 0 && clock.now() - lastHealth >= HEALTH_CHECK_MS) {
        lastHealth = clock.now();
        await checkActive();
      }
      if (elapsed >= ms) return;
      try {
        await clock.sleep(Math.min(tickMs, ms - elapsed), stop.signal);
      } catch {
        // woken by abort; checkAbort on the next pass says why
      }
    }
  };

  try {
    // plan: every selector resolved and every backend reachable before anything starts
    if (exp.load !== undefined) {
      throw new FaultlineError("E_TOOL", `load engine "${exp.load.engine}" is not available in this version of faultline`);
    }
    await ensureProxies(opts.target);
    for (const [i, fault] of exp.faults.entries()) {
      const name = faultName(fault, i);
      const plan = await planFault(fault, { runId, faultName: name, target: opts.target, log });
      const at = fault.at * scale;
      const until = at + fault.duration * scale;
      const rec: FaultRecord = { name, kind: fault.kind, targets: plan.targets, plannedAt: at, plannedDuration: until - at, actions: [] };
      record.faults.push(rec);
      scheduled.push({ fault, name, at, until, plan, record: rec, state: "waiting" });
    }
    event("plan", `${scheduled.length} fault(s) planned: ${scheduled.map((s) => `${s.name} → ${s.plan.targets.join(",")}`).join("; ") || "none"}`);

    const urls = new Map(exp.steadyState.probes.map((p) => [p.name, endpointUrl(opts.target, p.endpoint, p.path)]));
    probes = new ProbeRunner(exp.steadyState.probes, urls, clock);
    record.series.probes = probes.samples;
    probes.start();

    const baselineMs = exp.phases.baseline * scale;
    enterPhase("baseline", baselineMs);
    await runPhase(baselineMs);
    const steady = judgeSteadyState(probes.samples, windowOf(record, "baseline", clock.now()), exp.steadyState.maxFailureRate);
    if (exp.steadyState.probes.length > 0 && !steady.holds) {
      throw new RunAborted(`steady state did not hold before any fault: ${steady.messages.join("; ")}`);
    }
    event("steady-state", exp.steadyState.probes.length ? "steady state holds" : "no steady-state probes defined");

    const faultMs = Math.max(0, ...scheduled.map((s) => s.until));
    enterPhase("fault", faultMs);
    await runPhase(faultMs, async (elapsed) => {
      for (const s of scheduled) if (s.state === "active" && elapsed >= s.until) await revertFault(s, "duration elapsed");
      for (const s of scheduled) if (s.state === "waiting" && elapsed >= s.at) await injectFault(s);
    });
    for (const s of [...scheduled].reverse()) await revertFault(s, "fault phase ended");

    const recoveryMs = exp.phases.recovery * scale;
    enterPhase("recovery", recoveryMs);
    await runPhase(recoveryMs);
    if (currentPhase) currentPhase.end = clock.now();
    await probes.close();

    record.assertions = judgeAll(exp, record);
    const failed = record.assertions.filter((a) => a.verdict === "fail");
    if (failed.length > 0) {
      verdict = "fail";
      reason = failed.map((a) => `${a.name}: ${a.message}`).join("; ");
    }
  } catch (err) {
    if (err instanceof RunAborted) {
      verdict = "aborted";
      reason = err.message;
      event("abort", err.message);
    } else {
      verdict = "error";
      reason = errorMessage(err);
      event("error", reason);
    }
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
    // Every exit path: whatever is still injected is reverted, newest first.
    const left = active.length;
    for (const s of [...scheduled].reverse()) if (s.state === "active") await revertFault(s, "run ending");
    if (active.length > 0) await revertActions([...active], "run ending");
    if (left > 0) log.info({ left }, "reverted on exit");
    await probes?.close();
    if (currentPhase && currentPhase.end === undefined) currentPhase.end = clock.now();
    if (revertFailures.length > 0) {
      verdict = "error";
      reason = `${reason ? `${reason}; ` : ""}could not revert ${revertFailures.length} action(s), recorded in the journal (run \`faultline recover --run ${runDir}\`): ${revertFailures.join("; ")}`;
    }
    record.verdict = verdict;
    if (reason !== undefined) record.reason = reason;
    record.endedAt = clock.now();
    journal.append({ type: "run-end", verdict });
    journal.close();
    await writeFile(join(runDir, "run.json"), JSON.stringify(record, null, 1));
    report.onEnd(record);
  }
  return { record, runDir };
}

function windowOf(record: RunRecord, phase: PhaseName, now: number): { start: number; end: number } {
  if (phase === "run") return { start: record.phases[0]?.start ?? record.startedAt, end: record.phases.at(-1)?.end ?? now };
  const p = record.phases.find((x) => x.name === phase);
  return p ? { start: p.start, end: p.end ?? now } : { start: now, end: now };
}

/** Pure: the verdict of every assertion from the recorded run alone (also used by `faultline judge`). */
export function judgeAll(exp: Experiment, record: RunRecord): AssertionResult[] {
  const end = record.endedAt ?? record.phases.at(-1)?.end ?? record.startedAt;
  const results: AssertionResult[] = [];
  if (exp.steadyState.probes.length > 0) {
    // The hypothesis must hold again once the system has had the recovery phase to heal: judged on its second half.
    const rec = windowOf(record, "recovery", end);
    const w = { start: rec.start + (rec.end - rec.start) / 2, end: rec.end };
    const s = judgeSteadyState(record.series.probes, w, exp.steadyState.maxFailureRate);
    results.push({
      name: "steady-state-after-recovery",
      kind: "steady-state",
      verdict: s.holds ? "pass" : "fail",
      measured: s.measured,
      limit: exp.steadyState.maxFailureRate,
      unit: "failure ratio",
      window: w,
      message: s.holds ? "steady state holds again after recovery" : s.messages.join("; "),
      evidence: s.evidence,
    });
  }
  for (const a of exp.assertions) {
    results.push(judgeProbeAssertion(a, record.series.probes[a.probe], windowOf(record, a.during, end)));
  }
  return results;
}

export function endpointUrl(target: Target, endpoint: string, path: string): string {
  const e = target.endpoints[endpoint];
  if (e === undefined) {
    throw new FaultlineError("E_TARGET", `no endpoint "${endpoint}" in target ${target.metadata.name} (have: ${Object.keys(target.endpoints).join(", ") || "none"})`);
  }
  return new URL(path, e.url).toString();
}

async function ensureProxies(target: Target): Promise<void> {
  const tp = target.toxiproxy;
  if (tp === undefined) return;
  const api = new ToxiproxyApi(tp.api);
  await api.version();
  for (const p of tp.proxies) {
    if (p.listen !== undefined && p.upstream !== undefined) await api.ensureProxy(p.name, p.listen, p.upstream);
  }
}
