import { randomBytes } from "node:crypto";
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
import type { Backend, FaultPlan, PlanContext, UndoRecord } from "../faults/types.ts";
import { windowOf } from "../judge/context.ts";
import { hasSteadyState, judgeAll, steadyStateHolds } from "../judge/index.ts";
import type { LoadRun } from "../load/types.ts";
import type { Observer } from "../observe/observer.ts";
import { ProbeRunner } from "../observe/probes.ts";
import { startWebhookReceiver } from "../observe/webhook.ts";
import type { WebhookReceiver } from "../observe/webhook.ts";
import type { Experiment } from "../schema/experiment.ts";
import { faultName } from "../schema/faults.ts";
import type { Fault } from "../schema/faults.ts";
import { RUN_SCHEMA_VERSION } from "../schema/run-record.ts";
import type { PhaseId, RunRecord, TimelineEvent, Verdict } from "../schema/run-record.ts";
import type { Target } from "../schema/target.ts";
import { localStackDir, startTarget, targetUndo } from "../targets/index.ts";
import type { StartedTarget } from "../targets/index.ts";
import { abortChecks } from "./abort.ts";
import { undoBackend } from "./backends.ts";
import { endpointUrl } from "./endpoints.ts";
import { Journal } from "./journal.ts";
import { planLoad } from "./load-plan.ts";
import { startObservers, stopObservers } from "./observers.ts";
import { recoverAll } from "./recover.ts";
import { multiplex } from "./reporter.ts";
import type { RunReporter } from "./reporter.ts";
import { FaultScheduler } from "./scheduler.ts";

export { endpointUrl };

/** What a run injects with and reverts through; the fault catalog unless a test brings its own. */
export interface FaultLayer {
  plan(fault: Fault, ctx: PlanContext): Promise<FaultPlan>;
  backend(name: string): Backend;
  prepare(target: Target): Promise<void>;
}

const CATALOG: FaultLayer = { plan: planFault, backend: undoBackend, prepare: prepareBackends };

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

export function makeRunId(name: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${name}-${randomBytes(2).toString("hex")}`;
}

const HEALTH_CHECK_MS = 1000;
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
  private started: StartedTarget | undefined;
  private targetStart: UndoRecord | undefined;
  private webhook: WebhookReceiver | undefined;
  private probes: ProbeRunner | undefined;
  private load: LoadRun | undefined;
  private observers: Observer[] = [];
  private abort: (() => Promise<string | undefined>) | undefined;
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
    const exp = this.exp;
    this.record = {
      schemaVersion: RUN_SCHEMA_VERSION,
      runId,
      experiment: { name: exp.metadata.name, file: opts.experimentFile, hypothesis: exp.hypothesis, description: exp.metadata.description },
      target: { name: typeof opts.target === "string" ? opts.target : opts.target.metadata.name, ...(opts.targetFile ? { file: opts.targetFile } : {}) },
      startedAt: clock.now(),
      timeScale: this.scale,
      phases: [],
      faults: [],
      assertions: [],
      timeline: [],
      series: { probes: {} },
      environment: { faultline: FAULTLINE_VERSION, node: process.versions.node, platform: `${process.platform}/${process.arch}` },
      spec: exp,
      ...(opts.experimentSource !== undefined ? { source: opts.experimentSource } : {}),
    };
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
    for (const r of await recoverAll(this.opts.outDir)) {
      if (r.skipped !== undefined) {
        this.event("recover", `${r.runDir} is ${r.skipped}; its faults are left to it`, { runDir: r.runDir });
        continue;
      }
      this.event("recover", `reverted ${r.reverted.length} action(s) left by ${r.runDir}${r.failed.length ? `; ${r.failed.length} could not be reverted` : ""}`, { runDir: r.runDir, failed: r.failed });
      if (r.failed.length > 0) throw new FaultlineError("E_REVERT", `faults left by ${r.runDir} could not be reverted: ${r.failed.map((f) => f.error).join("; ")}`);
    }
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
    const t = this.opts.target;
    // The run's own Alertmanager receiver comes first: a started stack points at it.
    if (typeof t === "string" || t.stack?.control !== undefined || t.alertmanager !== undefined) this.webhook = await startWebhookReceiver(this.event);
    if (typeof t !== "string") {
      this.target = t;
      return;
    }
    this.event("target", `starting target ${t}…`);
    const req = { ref: t, runDir: this.runDir, runId: this.runId };
    this.targetStart = targetUndo(req);
    if (this.targetStart) this.journal?.append({ type: "inject", actionId: "target#stack", fault: "target", description: `${t} stack in ${localStackDir(this.runDir)}`, deadline: 0, undo: this.targetStart });
    this.started = await startTarget({ ...req, ...(this.webhook ? { webhookUrl: this.webhook.url } : {}), ...(this.opts.stackSets ? { stackSets: this.opts.stackSets } : {}), ...(this.opts.stackConfig ? { stackConfig: this.opts.stackConfig } : {}) });
    this.target = this.started.target;
    if (this.started.config) this.record.environment = { ...this.record.environment, stackConfig: this.started.config };
    this.record.target = { name: this.target.metadata.name, ...(this.started.targetFile ? { file: this.started.targetFile } : {}) };
    this.event("target", `target ${t} ready`);
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
      const record = { name, kind: fault.kind, targets: plan.targets, labels: fault.selector.matchLabels ?? {}, plannedAt: at, plannedDuration: until - at, actions: [] };
      this.record.faults.push(record);
      this.sched.add(fault, name, at, until, plan, record);
    }
    const planned = this.sched.planned;
    this.event("plan", `${planned.length} fault(s) planned: ${planned.map((s) => `${s.name} → ${s.plan.targets.join(",")}`).join("; ") || "none"}`);
    if (this.opts.dryRun) {
      for (const s of planned) {
        for (const a of s.plan.actions) this.event("dry-run", `${s.name} at +${(s.at / 1000).toFixed(1)}s for ${((s.until - s.at) / 1000).toFixed(1)}s would: ${a.description}`, { fault: s.name });
      }
      throw new RunAborted("dry run: every selector resolved and every backend answered; nothing was injected");
    }
    if (this.opts.confirm) {
      const ok = await this.opts.confirm({
        experiment: this.exp.metadata.name,
        target: tgt.metadata.name,
        ...(tgt.kubernetes ? { blastRadius: tgt.kubernetes.maxFraction } : {}),
        faults: planned.map((s) => ({ name: s.name, kind: s.fault.kind, targets: s.plan.targets, actions: s.plan.actions.map((a) => a.description), atMs: s.at, durationMs: s.until - s.at })),
      });
      if (!ok) throw new RunAborted("declined by the operator: nothing was injected");
      this.event("confirmed", "the operator confirmed the injection");
    }
  }

  /** Observers, probes and the load start; the abort conditions look at what they record. */
  async watch(): Promise<void> {
    const tgt = this.tgt;
    this.observers = await startObservers(tgt, this.event);
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
    const lp = planLoad(this.exp, tgt, { timeScale: this.scale, rateScale: this.opts.rateScale ?? 1, faultMs: this.sched.faultPhaseMs, onStage: (stage, message) => this.event("load.stage", message, { stage }) });
    if (lp === undefined) return;
    this.load = await lp.engine.start(lp.load);
    this.record.series.load = this.load.series;
    this.event("load", lp.description);
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
    let lastHealth = start;
    for (;;) {
      await this.checkAbort();
      const elapsed = this.clock.now() - start;
      if (onTick) await onTick(elapsed);
      if (this.sched.hasActive && this.clock.now() - lastHealth >= HEALTH_CHECK_MS) {
        lastHealth = this.clock.now();
        await this.sched.checkActive();
      }
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
      this.enterPhase("warmup", exp.phases.warmup * scale);
      await this.runPhase(exp.phases.warmup * scale);
    }
    this.enterPhase("baseline", exp.phases.baseline * scale);
    await this.runPhase(exp.phases.baseline * scale);
    if (this.currentPhase) this.currentPhase.end = this.clock.now();
    const steady = steadyStateHolds(exp, this.record, windowOf(this.record, "baseline"));
    if (hasSteadyState(exp) && !steady.holds) throw new RunAborted(`steady state did not hold before any fault: ${steady.messages.join("; ")}`);
    this.event("steady-state", hasSteadyState(exp) ? "steady state holds" : "no steady state defined");
    const sched = this.sched;
    this.enterPhase("fault", sched.faultPhaseMs);
    await this.runPhase(sched.faultPhaseMs, (elapsed) => sched.tick(elapsed));
    await sched.revertAll("fault phase ended");
    this.enterPhase("recovery", exp.phases.recovery * scale);
    await this.runPhase(exp.phases.recovery * scale);
    if (this.currentPhase) this.currentPhase.end = this.clock.now();
  }

  async judge(): Promise<void> {
    await this.probes?.close();
    if (this.load) this.record.series.load = await this.load.stop();
    await stopObservers(this.observers);
    this.record.endedAt = this.clock.now();
    this.record.assertions = judgeAll(this.exp, this.record);
    const failed = this.record.assertions.filter((a) => a.verdict === "fail");
    if (failed.length > 0) {
      this.verdict = "fail";
      this.reason = failed.map((a) => `${a.name}: ${a.message}`).join("; ");
    }
  }

  stopped(err: unknown): void {
    this.verdict = err instanceof RunAborted ? "aborted" : "error";
    this.reason = errorMessage(err);
    this.event(err instanceof RunAborted ? "abort" : "error", this.reason);
  }

  /** Every exit path: whatever is still injected is reverted, newest first; everything started is stopped; run.json is written. */
  async finish(): Promise<void> {
    this.opts.signal?.removeEventListener("abort", this.onOuterAbort);
    const left = (await this.scheduler?.revertAll("run ending")) ?? 0;
    if (left > 0) this.log.info({ left }, "reverted on exit");
    await this.probes?.close();
    if (this.load) this.record.series.load = await this.load.stop().catch(() => this.load?.series);
    await stopObservers(this.observers);
    await this.webhook?.stop().catch(() => undefined);
    await this.stopTarget();
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

  private async stopTarget(): Promise<void> {
    if (this.started === undefined && this.targetStart === undefined) return;
    this.event("target", "stopping target");
    try {
      // a target that failed half-way through starting is undone from its journal record
      if (this.started) await this.started.stop();
      else if (this.targetStart) await undoBackend(this.targetStart.driver).revert(this.targetStart);
      if (this.targetStart) this.journal?.append({ type: "reverted", actionId: "target#stack", by: "run" });
    } catch (err) {
      this.event("error", `stopping the target: ${errorMessage(err)}`);
    }
  }
}
