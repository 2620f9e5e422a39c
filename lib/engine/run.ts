import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { pino } from "pino";
import { systemClock } from "../clock.ts";
import type { Clock } from "../clock.ts";
import { FaultlineError, errorMessage } from "../errors.ts";
import { planFault, prepareBackends } from "../faults/catalog.ts";
import { alertsRaisedSince } from "../judge/alert.ts";
import { windowOf } from "../judge/context.ts";
import { hasSteadyState, judgeAll, steadyStateHolds } from "../judge/index.ts";
import type { LoadRun } from "../load/types.ts";
import type { Observer } from "../observe/observer.ts";
import type { HostMonitor } from "../observe/host.ts";
import { ProbeRunner } from "../observe/probes.ts";
import type { Experiment } from "../schema/experiment.ts";
import { faultName } from "../schema/faults.ts";
import type { PhaseId, RunRecord, TimelineEvent, Verdict } from "../schema/run-record.ts";
import type { Target } from "../schema/target.ts";
import { abortChecks } from "./abort.ts";
import { undoBackend } from "./backends.ts";
import { endpointUrl } from "./endpoints.ts";
import { Journal } from "./journal.ts";
import { planLoad, settleMaxMs, warmupMs } from "./load-plan.ts";
import { registerLiveLoad } from "../faults/load/live.ts";
import { isBuiltinTarget } from "../targets/index.ts";
import { readStackSide, startObservers, stopObservers, watchHost } from "./observers.ts";
import { recoverBeforeRun } from "./recover.ts";
import { multiplex } from "./reporter.ts";
import type { RunReporter } from "./reporter.ts";
import { alertsOutrunning, dryRunLines, newRunRecord, plannedRun, verdictOf } from "./plan.ts";
import { FaultScheduler } from "./scheduler.ts";
import { TargetSession } from "./target-session.ts";
import { RunAborted, RunInconclusive, makeRunId } from "./types.ts";
import type { FaultLayer, RunOptions, RunResult } from "./types.ts";

export { RunAborted, RunInconclusive, makeRunId } from "./types.ts";
export type { FaultLayer, PlannedRun, RunOptions, RunResult } from "./types.ts";

const CATALOG: FaultLayer = { plan: planFault, backend: undoBackend, prepare: prepareBackends };
const FAULTLINE_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** The loop: validate → plan → watch → warm-up → baseline → faults → recovery → judge, reverting on every exit. */
export async function runExperiment(opts: RunOptions): Promise<RunResult> {
  const clock = opts.clock ?? systemClock;
  const exp = opts.experiment;
  const runId = opts.runId ?? makeRunId(exp.metadata.name, clock.now());
  const runDir = join(opts.outDir, runId);
  await mkdir(runDir, { recursive: true });
  const run = new ExperimentRun(opts, clock, runId, runDir);
  try {
    await run.recoverLeftovers();
    await run.start();
    await run.plan();
    await run.watch();
    await run.phases();
    await run.judge();
  } catch (err) {
    run.stopped(err);
  } finally {
    await run.finish();
  }
  return { record: run.record, runDir };
}

class ExperimentRun {
  readonly record: RunRecord;
  private readonly opts: RunOptions;
  private readonly exp: Experiment;
  private readonly clock: Clock;
  private readonly scale: number;
  private readonly runId: string;
  private readonly runDir: string;
  private readonly log: Logger;
  private readonly report: Required<RunReporter>;
  private readonly faults: FaultLayer;
  private readonly stop = new AbortController();
  private journal: Journal | undefined;
  private scheduler: FaultScheduler | undefined;
  private target: Target | undefined;
  private session: TargetSession | undefined;
  private probes: ProbeRunner | undefined;
  private load: LoadRun | undefined;
  private observers: Observer[] = [];
  private host: HostMonitor | undefined;
  private abort: (() => Promise<string | undefined>) | undefined;
  private stackSideRead = false;
  private forgetLoad: (() => void) | undefined;
  private verdict: Verdict = "pass";
  private reason: string | undefined;
  private currentPhase: { name: PhaseId; start: number; end?: number } | undefined;
  private readonly onOuterAbort = (): void => this.stop.abort(this.opts.signal?.reason);

  constructor(opts: RunOptions, clock: Clock, runId: string, runDir: string) {
    this.opts = opts;
    this.exp = opts.experiment;
    this.clock = clock;
    this.scale = opts.timeScale ?? 1;
    this.runId = runId;
    this.runDir = runDir;
    this.faults = opts.faults ?? CATALOG;
    this.log = (opts.log ?? pino({ level: "silent" })).child({ runId });
    this.report = multiplex(opts.reporters ?? [], (err) => this.log.warn({ err }, "a reporter failed"));
    this.record = newRunRecord(opts, runId, clock.now(), this.scale, FAULTLINE_VERSION);
    this.report.onStart(this.record);
    // an operator's notes (a game day) land in the timeline as they are typed
    opts.attachNotes?.((text) => this.event("note", text, { by: "operator" }));
    opts.signal?.addEventListener("abort", this.onOuterAbort, { once: true });
    if (opts.signal?.aborted) this.onOuterAbort();
  }

  private readonly event = (type: string, message: string, data?: Record<string, unknown>): void => {
    const e: TimelineEvent = data === undefined ? { t: this.clock.now(), type, message } : { t: this.clock.now(), type, message, data };
    this.record.timeline.push(e);
    this.log.info({ event: type, ...data }, message);
    this.report.onEvent(e);
  };

  /** Faults left behind by runs that crashed are reverted before this run touches anything. */
  async recoverLeftovers(): Promise<void> {
    await recoverBeforeRun(this.opts.outDir, this.event);
    this.journal = new Journal(this.runDir, () => this.clock.now());
    this.journal.append({ type: "run-start", runId: this.runId, pid: process.pid, host: hostname(), experiment: this.exp.metadata.name });
    this.scheduler = new FaultScheduler({
      journal: this.journal,
      clock: this.clock,
      backend: (name) => this.faults.backend(name),
      runStartedAt: this.record.startedAt,
      event: this.event,
      onActiveFaults: (names) => this.report.onActiveFaults(names),
    });
  }

  /** The target: a built-in one is started for the run (journaled first), a document is taken as it is. */
  async start(): Promise<void> {
    const own = this.exp.stack?.set ?? [];
    const builtin = typeof this.opts.target === "string" && isBuiltinTarget(this.opts.target);
    if (own.length > 0) this.event("stack.settings", builtin ? `the experiment sets ${own.join(", ")} on the stack it starts` : `the experiment's stack settings (${own.join(", ")}) are left out: target ${typeof this.opts.target === "string" ? this.opts.target : this.opts.target.metadata.name} is not started by faultline`, { set: own, applied: builtin });
    // the experiment's own settings first, so that --stack-set overrides them
    const stackSets = [...(builtin ? own : []), ...(this.opts.stackSets ?? [])];
    this.session = new TargetSession({ runId: this.runId, runDir: this.runDir, journal: this.journal, event: this.event, stackSets: stackSets.length > 0 ? stackSets : undefined, stackConfig: this.opts.stackConfig });
    this.target = await this.session.start(this.opts.target);
    const started = this.session.started;
    if (started?.config) this.record.environment = { ...this.record.environment, stackConfig: started.config };
    // the judges read how late its alert rules show a moment (a firing that resolves that soon after a window began is the moments before's)
    if (started?.alertRules) this.record.environment = { ...this.record.environment, alertRules: started.alertRules };
    if (started) this.record.target = { name: this.target.metadata.name, ...(started.targetFile ? { file: started.targetFile } : {}) };
  }

  private get tgt(): Target {
    if (this.target === undefined) throw new FaultlineError("E_TARGET", "no target");
    return this.target;
  }

  private get sched(): FaultScheduler {
    if (this.scheduler === undefined) throw new FaultlineError("E_TARGET", "the run has no journal yet");
    return this.scheduler;
  }

  /** Every selector resolved and every backend reachable before anything starts; a dry run ends here. */
  async plan(): Promise<void> {
    const tgt = this.tgt;
    await this.faults.prepare(tgt);
    for (const [i, fault] of this.exp.faults.entries()) {
      const name = faultName(fault, i);
      const plan = await this.faults.plan(fault, { runId: this.runId, faultName: name, target: tgt, log: this.log, timeScale: this.scale });
      const at = fault.at * this.scale;
      const until = at + fault.duration * this.scale;
      const record = { name, kind: fault.kind, targets: plan.targets, labels: ("selector" in fault ? fault.selector.matchLabels : undefined) ?? {}, plannedAt: at, plannedDuration: until - at, actions: [] };
      this.record.faults.push(record);
      this.sched.add(fault, name, at, until, plan, record);
    }
    const planned = this.sched.planned;
    for (const w of alertsOutrunning(this.exp, planned, this.sched.faultPhaseMs, this.exp.phases.recovery * this.scale)) this.event("plan.warning", w);
    this.event("plan", `${planned.length} fault(s) planned: ${planned.map((s) => `${s.name} → ${s.plan.targets.join(",")}`).join("; ") || "none"}${this.opts.calibration ? " (calibration: none will be injected)" : ""}`);
    if (this.opts.dryRun) {
      for (const s of planned) for (const line of dryRunLines(s)) this.event("dry-run", line, { fault: s.name });
      throw new RunAborted("dry run: every selector resolved and every backend answered; nothing was injected");
    }
    if (this.opts.confirm) {
      if (!(await this.opts.confirm(plannedRun(this.exp.metadata.name, tgt, planned)))) throw new RunAborted("declined by the operator: nothing was injected");
      this.event("confirmed", "the operator confirmed the injection");
    }
  }

  /** Observers, probes and the load start; the abort conditions look at what they record. */
  async watch(): Promise<void> {
    const tgt = this.tgt;
    this.observers = await startObservers(tgt, this.event);
    this.host = watchHost(this.record, () => this.session?.processGroups(), this.event);
    const urls = new Map(this.exp.steadyState.probes.map((p) => [p.name, endpointUrl(tgt, p.endpoint, p.path)]));
    this.probes = new ProbeRunner(this.exp.steadyState.probes, urls, this.clock);
    this.record.series.probes = this.probes.samples;
    this.probes.start();
    this.abort = abortChecks(this.exp.abortWhen, {
      now: () => this.clock.now(),
      probes: (name) => this.probes?.samples[name] ?? [],
      load: () => this.load?.series,
      prometheus: () => tgt.prometheus?.url,
    });
    const lp = planLoad(this.exp, tgt, { timeScale: this.scale, rateScale: this.opts.rateScale ?? 1, faultMs: this.sched.faultPhaseMs, warmupMs: this.session?.started?.warmupMs, rulesMemoryMs: this.session?.started?.alertRules?.memoryMs, onStage: (stage, message) => this.event("load.stage", message, { stage }) });
    if (lp === undefined) return;
    this.load = await lp.engine.start(lp.load);
    this.forgetLoad = registerLiveLoad(this.runId, this.load); // a surge fault finds it here
    this.record.series.load = this.load.series;
    this.event("load", lp.description);
    const refused = this.load.series.priority?.refused;
    if (refused !== undefined) this.event("load.priority", `the load generator runs at its usual priority (${refused}): on a busy host the system under test can make it late, and checks then read inconclusive`);
  }

  private enterPhase(name: PhaseId, plannedMs: number): void {
    if (this.currentPhase) this.currentPhase.end = this.clock.now();
    this.currentPhase = { name, start: this.clock.now() };
    this.record.phases.push(this.currentPhase);
    this.event("phase", `${name} phase (${Math.round(plannedMs)}ms)`, { phase: name, plannedMs });
    this.report.onPhase(name, plannedMs);
  }

  private async checkAbort(): Promise<void> {
    if (this.stop.signal.aborted) {
      const r: unknown = this.stop.signal.reason;
      throw r instanceof RunAborted ? r : new RunAborted(r instanceof FaultlineError ? r.message : `interrupted: ${errorMessage(r)}`);
    }
    const why = await this.abort?.();
    if (why !== undefined) throw new RunAborted(`abort condition: ${why}`);
  }

  /** Waits out a phase, waking every tick; `onTick` may act (inject, expire) and may throw. */
  private async runPhase(ms: number, onTick?: (elapsed: number) => Promise<void>): Promise<void> {
    const start = this.clock.now();
    const tickMs = this.opts.tickMs ?? 100;
    for (;;) {
      await this.checkAbort();
      const elapsed = this.clock.now() - start;
      if (onTick) await onTick(elapsed);
      await this.sched.checkActiveEverySecond();
      if (elapsed >= ms) return;
      try {
        await this.clock.sleep(Math.min(tickMs, ms - elapsed), this.stop.signal);
      } catch {
        // woken by abort; checkAbort on the next pass says why
      }
    }
  }

  /** Warm-up (never judged) → baseline (the steady state must hold, else nothing is injected) → faults → recovery. */
  async phases(): Promise<void> {
    const { exp, scale } = this;
    // Connection set-up, cold caches and the JIT make the first seconds slow on any system.
    if (this.load && exp.phases.warmup > 0) {
      const ms = warmupMs(exp, scale, this.session?.started?.warmupMs);
      this.enterPhase("warmup", ms);
      await this.runPhase(ms);
      const rules = this.session?.started?.alertRules;
      await this.settle(settleMaxMs(ms, rules?.memoryMs), rules?.lagMs ?? 0);
    }
    this.enterPhase("baseline", exp.phases.baseline * scale);
    await this.runPhase(exp.phases.baseline * scale);
    if (this.currentPhase) this.currentPhase.end = this.clock.now();
    const steady = steadyStateHolds(exp, this.record, windowOf(this.record, "baseline"));
    // the generator's stall or a starved host is no reason to blame the system: nothing is injected, and nothing aborted
    if (hasSteadyState(exp) && !steady.holds && steady.inconclusive !== undefined) {
      const said = steady.messages.filter((m) => m !== steady.inconclusive); // what it measured, for the SRE who reruns it
      throw new RunInconclusive(`the steady state could not be judged before any fault: ${steady.inconclusive}${said.length > 0 ? `; the steady state alone said: ${said.join("; ")}` : ""}`);
    }
    if (hasSteadyState(exp) && !steady.holds) throw new RunAborted(`steady state did not hold before any fault: ${steady.messages.join("; ")}`);
    this.event("steady-state", hasSteadyState(exp) ? "steady state holds" : "no steady state defined");
    const sched = this.sched;
    this.enterPhase("fault", sched.faultPhaseMs);
    await this.runPhase(sched.faultPhaseMs, this.opts.calibration ? undefined : (elapsed) => sched.tick(elapsed));
    await sched.revertAll("fault phase ended");
    this.enterPhase("recovery", exp.phases.recovery * scale);
    await this.runPhase(exp.phases.recovery * scale);
    if (this.currentPhase) this.currentPhase.end = this.clock.now();
  }

  /**
   * The baseline starts from a quiet system: an alert the warm-up raised (a cold stack's first seconds
   * at full rate, still inside the rule's window) is waited out, up to `maxMs`, rather than counted as
   * the baseline's (CI: region-partition at the shipped rate in containers, HighP99Latency pending from
   * the warm-up's third second, firing 1.7 s into the baseline, resolved 5.8 s into it). An alert
   * standing before the load began is the system's, and not waited for; one that outlasts the wait is
   * the baseline's to judge. A misconfigured alert that fires on a healthy system costs `maxMs`, no more.
   */
  private async settle(maxMs: number, lagMs: number): Promise<void> {
    const since = this.currentPhase?.start ?? this.clock.now();
    const start = this.clock.now();
    // the warm-up's last seconds reach the alerts a scrape, an evaluation and a poll later: look then
    // (make demo, 2026-12-04: healthy-rollout's HighP99Latency went pending 0.03 s after a warm-up that
    // had looked quiet, fired 5 s into the baseline and failed its no-alerts check)
    if (lagMs > 0) await this.runPhase(lagMs);
    let left = alertsRaisedSince(this.record.timeline, since);
    if (left.length === 0) return;
    this.event("warmup.settle", `the warm-up left ${left.join(", ")} active: the baseline waits for it to resolve, at most ${(Math.max(0, maxMs - (this.clock.now() - start)) / 1000).toFixed(1)}s more`, { alerts: left, maxMs });
    while (left.length > 0 && this.clock.now() - start < maxMs) {
      await this.runPhase(Math.min(500, maxMs - (this.clock.now() - start)));
      left = alertsRaisedSince(this.record.timeline, since);
    }
    const waited = ((this.clock.now() - start) / 1000).toFixed(1);
    this.event("warmup.settled", left.length === 0 ? `quiet after ${waited}s more warm-up` : `${left.join(", ")} still active after ${waited}s more warm-up: the baseline judges it`, { alerts: left, waitedMs: this.clock.now() - start });
  }

  async judge(): Promise<void> {
    await this.probes?.close();
    if (this.load) this.record.series.load = await this.load.stop();
    await stopObservers(this.observers);
    this.host?.stop();
    this.record.endedAt = this.clock.now();
    await this.readStackSide(); // judges read it (amplification), so before them
    this.record.assertions = judgeAll(this.exp, this.record);
    const v = verdictOf(this.record.assertions);
    this.verdict = v.verdict;
    if (v.reason !== undefined) this.reason = v.reason;
  }

  /** The stack's lane and the gateway's record, once, while the target still answers. */
  private async readStackSide(): Promise<void> {
    if (!this.load || this.stackSideRead) return;
    this.stackSideRead = true;
    await readStackSide(this.record, this.target, (message) => this.log.warn(message));
  }

  stopped(err: unknown): void {
    this.verdict = err instanceof RunAborted ? "aborted" : err instanceof RunInconclusive ? "inconclusive" : "error";
    this.reason = errorMessage(err);
    this.event(this.verdict === "aborted" ? "abort" : this.verdict, this.reason);
  }

  /** Every exit path: whatever is still injected is reverted, newest first; everything started is stopped; run.json is written. */
  async finish(): Promise<void> {
    this.opts.signal?.removeEventListener("abort", this.onOuterAbort);
    const left = (await this.scheduler?.revertAll("run ending")) ?? 0;
    if (left > 0) this.log.info({ left }, "reverted on exit");
    await this.probes?.close();
    if (this.load) this.record.series.load = await this.load.stop().catch(() => this.load?.series);
    this.forgetLoad?.();
    await stopObservers(this.observers);
    this.host?.stop();
    await this.readStackSide();
    await this.session?.stop();
    if (this.currentPhase && this.currentPhase.end === undefined) this.currentPhase.end = this.clock.now();
    const failures = this.scheduler?.revertFailures ?? [];
    if (failures.length > 0) {
      this.verdict = "error";
      this.reason = `${this.reason ? `${this.reason}; ` : ""}could not revert ${failures.length} action(s), recorded in the journal (run \`faultline recover --run ${this.runDir}\`): ${failures.join("; ")}`;
    }
    this.record.verdict = this.verdict;
    if (this.reason !== undefined) this.record.reason = this.reason;
    this.record.endedAt ??= this.clock.now();
    this.journal?.append({ type: "run-end", verdict: this.verdict });
    this.journal?.close();
    await writeFile(join(this.runDir, "run.json"), JSON.stringify(this.record, null, 1));
    this.report.onEnd(this.record);
  }
}
