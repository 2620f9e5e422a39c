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
import { driverFor, planFault } from "../faults/registry.ts";
import { allowedNamespace } from "../faults/kubernetes/kinds.ts";
import type { Action, FaultPlan, UndoRecord } from "../faults/types.ts";
import { ToxiproxyApi } from "../clients/toxiproxy.ts";
import { windowOf } from "../judge/context.ts";
import { hasSteadyState, judgeAll, steadyStateHolds } from "../judge/index.ts";
import { abortTriggered } from "../judge/probes.ts";
import { loadEngine } from "../load/registry.ts";
import { BUCKET_MS, errorsOf } from "../schema/series.ts";
import type { LoadRun } from "../load/types.ts";
import { DEFAULT_MIX } from "../load/types.ts";
import type { Observer } from "../observe/observer.ts";
import { ProbeRunner } from "../observe/probes.ts";
import { prometheusAlerts } from "../observe/prometheus.ts";
import { kubernetesObserver } from "../observe/kubernetes.ts";
import { kube } from "../clients/kubernetes.ts";
import { K6OperatorLoadEngine } from "../load/k6-operator.ts";
import type { LoadEngine } from "../load/types.ts";
import type { DistributedLoad } from "../schema/experiment.ts";
import { rolloutEvents } from "../observe/rollout.ts";
import { startWebhookReceiver } from "../observe/webhook.ts";
import type { WebhookReceiver } from "../observe/webhook.ts";
import { localStackDir, startTarget, targetUndo } from "../targets/index.ts";
import type { StartedTarget } from "../targets/index.ts";
import type { Experiment, Fault } from "../schema/experiment.ts";
import { faultName } from "../schema/experiment.ts";
import { RUN_SCHEMA_VERSION } from "../schema/run-record.ts";
import type { ActionRecord, FaultRecord, PhaseId, RunRecord, TimelineEvent, Verdict } from "../schema/run-record.ts";
import type { Target } from "../schema/target.ts";
import { Journal } from "./journal.ts";
import { recoverAll } from "./recover.ts";
import { multiplex } from "./reporter.ts";
import type { RunReporter } from "./reporter.ts";

export interface RunOptions {
  experiment: Experiment;
  experimentFile?: string;
  experimentSource?: string;
  /** A target document, or a reference: "local" (start the reference stack) or a target file. */
  target: Target | string;
  targetFile?: string;
  /** Overrides for the local stack's config (`--stack-set`). */
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
const FAULTLINE_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

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
    target: { name: typeof opts.target === "string" ? opts.target : opts.target.metadata.name, ...(opts.targetFile ? { file: opts.targetFile } : {}) },
    startedAt: clock.now(),
    timeScale: scale,
    phases: [],
    faults: [],
    assertions: [],
    timeline: [],
    series: { probes: {} },
    environment: { faultline: FAULTLINE_VERSION, node: process.versions.node, platform: `${process.platform}/${process.arch}` },
    spec: exp,
    ...(opts.experimentSource !== undefined ? { source: opts.experimentSource } : {}),
  };
  const event = (type: string, message: string, data?: Record<string, unknown>): void => {
    const e: TimelineEvent = data === undefined ? { t: clock.now(), type, message } : { t: clock.now(), type, message, data };
    record.timeline.push(e);
    log.info({ event: type, ...data }, message);
    report.onEvent(e);
  };
  report.onStart(record);
  // an operator's notes (a game day) land in the timeline as they are typed
  opts.attachNotes?.((text) => event("note", text, { by: "operator" }));

  // Faults left behind by runs that crashed are reverted before this run touches anything.
  for (const r of await recoverAll(opts.outDir)) {
    if (r.skipped !== undefined) {
      event("recover", `${r.runDir} is ${r.skipped}; its faults are left to it`, { runDir: r.runDir });
      continue;
    }
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
  let load: LoadRun | undefined;
  let webhook: WebhookReceiver | undefined;
  let targetStart: UndoRecord | undefined;
  let started: StartedTarget | undefined;
  const observers: Observer[] = [];
  let target: Target | undefined;
  const promqlSince = new Map<string, number>();
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
      // The fault takes effect with its first action, not its last.
      s.record.injectedAt ??= rec.injectedAt;
    }
    event("fault.injected", `${s.name} injected: ${s.fault.kind} on ${s.plan.targets.join(", ")}`, {
      fault: s.name,
      kind: s.fault.kind,
      targets: s.plan.targets,
    });
    report.onActiveFaults(activeNames());
  };

  /**
   * Proves the active faults still hold; a backend that vanished makes the run an error. A busy
   * backend may miss one check: contact counts as lost after three failed checks in a row.
   */
  let failedChecks = 0;
  const checkActive = async (): Promise<void> => {
    for (const a of active) {
      const driver = driverFor(a.action.undo.driver);
      if (driver.isActive === undefined) continue;
      let still: boolean;
      try {
        still = await driver.isActive(a.action.undo);
        failedChecks = 0;
      } catch (err) {
        failedChecks++;
        if (failedChecks < 3) {
          event("observer.error", `checking ${a.fault}: ${errorMessage(err)} (${failedChecks} in a row)`, { fault: a.fault });
          return;
        }
        throw new FaultlineError("E_DRIVER", `lost contact with the fault backend of ${a.fault}: ${errorMessage(err)}`, { cause: err });
      }
      if (!still) throw new FaultlineError("E_DRIVER", `${a.action.description} disappeared while active (removed outside faultline?)`);
    }
  };

  const checkAbort = async (): Promise<void> => {
    if (stop.signal.aborted) {
      const r: unknown = stop.signal.reason;
      throw r instanceof RunAborted ? r : new RunAborted(r instanceof FaultlineError ? r.message : `interrupted: ${errorMessage(r)}`);
    }
    const now = clock.now();
    for (const c of exp.abortWhen) {
      let why: string | undefined;
      if (c.kind === "probe") why = abortTriggered(c, probes?.samples[c.probe] ?? [], now);
      else if (c.kind === "error-rate") why = errorRateAbort(c.above, c.for, now);
      else why = await promqlAbort(c.expr, c.for, now);
      if (why !== undefined) throw new RunAborted(`abort condition: ${why}`);
    }
  };

  /** The client error rate stayed above `above` over the whole trailing `forMs` (buckets still open count as sent so far). */
  const errorRateAbort = (above: number, forMs: number, now: number): string | undefined => {
    const series = load?.series;
    if (series === undefined || now - series.start < forMs) return undefined;
    let sent = 0;
    let errors = 0;
    for (const b of series.buckets) {
      if (b === undefined || b.t < now - forMs || b.t + BUCKET_MS > now) continue;
      sent += b.outcomes.ok + errorsOf(b.outcomes) + b.outcomes.dropped;
      errors += errorsOf(b.outcomes) + b.outcomes.dropped;
    }
    return sent > 0 && errors / sent > above ? `client error rate ${((errors / sent) * 100).toFixed(1)}% > ${(above * 100).toFixed(1)}% for ${forMs / 1000}s` : undefined;
  };

  let lastPromql = 0;
  const promqlAbort = async (expr: string, forMs: number, now: number): Promise<string | undefined> => {
    const url = target?.prometheus?.url;
    if (url === undefined || now - lastPromql < 1000) return undefined;
    lastPromql = now;
    try {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { data?: { result?: unknown[] } };
      if ((body.data?.result?.length ?? 0) === 0) {
        promqlSince.delete(expr);
        return undefined;
      }
      const since = promqlSince.get(expr) ?? now;
      promqlSince.set(expr, since);
      return now - since >= forMs ? `PromQL \`${expr}\` true for ${((now - since) / 1000).toFixed(0)}s` : undefined;
    } catch {
      return undefined; // an unreachable Prometheus is the observer's to report, not a reason to abort
    }
  };

  /** Waits out a phase, waking every tick; `onTick` may act (inject, expire) and may throw. */
  const runPhase = async (ms: number, onTick?: (elapsed: number) => Promise<void>): Promise<void> => {
    const start = clock.now();
    let lastHealth = start;
    for (;;) {
      await checkAbort();
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
    // The run's own Alertmanager receiver comes first: a local stack is started pointing at it.
    webhook = await startWebhookReceiver(event);
    if (typeof opts.target === "string") {
      event("target", `starting target ${opts.target}…`);
      targetStart = targetUndo({ ref: opts.target, runDir, runId });
      if (targetStart) journal.append({ type: "inject", actionId: "target#stack", fault: "target", description: `${opts.target} stack in ${localStackDir(runDir)}`, deadline: 0, undo: targetStart });
      started = await startTarget({ ref: opts.target, runDir, runId, webhookUrl: webhook.url, ...(opts.stackSets ? { stackSets: opts.stackSets } : {}), ...(opts.stackConfig ? { stackConfig: opts.stackConfig } : {}) });
      target = started.target;
      if (started.config) record.environment = { ...record.environment, stackConfig: started.config };
      record.target = { name: target.metadata.name, ...(started.targetFile ? { file: started.targetFile } : {}) };
      event("target", `target ${opts.target} ready`);
    } else {
      target = opts.target;
    }
    const tgt = target;

    // plan: every selector resolved and every backend reachable before anything starts
    await ensureProxies(tgt);
    for (const [i, fault] of exp.faults.entries()) {
      const name = faultName(fault, i);
      const plan = await planFault(fault, { runId, faultName: name, target: tgt, log, timeScale: scale });
      const at = fault.at * scale;
      const until = at + fault.duration * scale;
      const rec: FaultRecord = { name, kind: fault.kind, targets: plan.targets, labels: fault.selector.matchLabels ?? {}, plannedAt: at, plannedDuration: until - at, actions: [] };
      record.faults.push(rec);
      scheduled.push({ fault, name, at, until, plan, record: rec, state: "waiting" });
    }
    event("plan", `${scheduled.length} fault(s) planned: ${scheduled.map((s) => `${s.name} → ${s.plan.targets.join(",")}`).join("; ") || "none"}`);
    if (opts.dryRun) {
      for (const s of scheduled) {
        for (const a of s.plan.actions) event("dry-run", `${s.name} at +${(s.at / 1000).toFixed(1)}s for ${((s.until - s.at) / 1000).toFixed(1)}s would: ${a.description}`, { fault: s.name });
      }
      throw new RunAborted("dry run: every selector resolved and every backend answered; nothing was injected");
    }
    if (opts.confirm) {
      const ok = await opts.confirm({
        experiment: exp.metadata.name,
        target: tgt.metadata.name,
        ...(tgt.kubernetes ? { blastRadius: tgt.kubernetes.maxFraction } : {}),
        faults: scheduled.map((s) => ({ name: s.name, kind: s.fault.kind, targets: s.plan.targets, actions: s.plan.actions.map((a) => a.description), atMs: s.at, durationMs: s.until - s.at })),
      });
      if (!ok) throw new RunAborted("declined by the operator: nothing was injected");
      event("confirmed", "the operator confirmed the injection");
    }

    if (tgt.prometheus) observers.push(prometheusAlerts(tgt.prometheus.url, event));
    if (tgt.stack?.rollout) observers.push(rolloutEvents(tgt.stack.rollout, event));
    if (tgt.kubernetes) observers.push(kubernetesObserver(tgt.kubernetes, event));
    for (const o of observers) await o.start();

    const urls = new Map(exp.steadyState.probes.map((p) => [p.name, endpointUrl(tgt, p.endpoint, p.path)]));
    probes = new ProbeRunner(exp.steadyState.probes, urls, clock);
    record.series.probes = probes.samples;
    probes.start();

    const faultMsPlanned = Math.max(0, ...scheduled.map((s) => s.until));
    if (exp.load !== undefined) {
      const l = exp.load;
      const rateScale = opts.rateScale ?? 1;
      const durationMs = (exp.phases.warmup + exp.phases.baseline) * scale + faultMsPlanned + exp.phases.recovery * scale + 2000;
      const base = endpointUrl(tgt, l.endpoint, "/");
      const rate = l.rate * rateScale;
      // A load without stages of its own ramps up over the warm-up from a tenth of its rate, as
      // traffic shifted onto a fleet does, then holds: a cold stack hit at full rate at once can
      // queue past any steady state before its connections and JIT are warm (seen in containers).
      const warmMs = exp.phases.warmup * scale;
      const ramp = l.stages === undefined && warmMs > 0;
      const stages = l.stages
        ? l.stages.map((st) => ({ duration: st.duration * scale, target: st.target * rateScale }))
        : ramp
          ? [{ duration: warmMs, target: rate }, { duration: durationMs - warmMs, target: rate }]
          : undefined;
      const engine = l.engine === "k6-operator" ? distributedEngine(tgt, l.distributed, (stage, message) => event("load.stage", message, { stage })) : loadEngine(l.engine);
      load = await engine.start({
        baseUrl: base,
        rate: ramp ? rate / 10 : rate,
        ...(stages ? { stages } : {}),
        durationMs,
        maxInFlight: l.maxInFlight,
        timeoutMs: l.timeout,
        mix: l.mix ?? DEFAULT_MIX,
      });
      record.series.load = load.series;
      event("load", `${l.engine} load at ${rate} req/s${ramp ? ` (from ${rate / 10} over the warm-up)` : ""} on ${base} for up to ${(durationMs / 1000).toFixed(0)}s`);
    }

    // Connection set-up, cold caches and the JIT make the first seconds slow on any system; the
    // warm-up is recorded and charted, and no assertion looks at it.
    if (load && exp.phases.warmup > 0) {
      const warmupMs = exp.phases.warmup * scale; // the load ramps up meanwhile (above)
      enterPhase("warmup", warmupMs);
      await runPhase(warmupMs);
    }
    const baselineMs = exp.phases.baseline * scale;
    enterPhase("baseline", baselineMs);
    await runPhase(baselineMs);
    const baselinePhase = record.phases.find((x) => x.name === "baseline");
    if (baselinePhase) baselinePhase.end = clock.now();
    const steady = steadyStateHolds(exp, record, windowOf(record, "baseline"));
    if (hasSteadyState(exp) && !steady.holds) {
      throw new RunAborted(`steady state did not hold before any fault: ${steady.messages.join("; ")}`);
    }
    event("steady-state", hasSteadyState(exp) ? "steady state holds" : "no steady state defined");

    enterPhase("fault", faultMsPlanned);
    await runPhase(faultMsPlanned, async (elapsed) => {
      for (const s of scheduled) if (s.state === "active" && elapsed >= s.until) await revertFault(s, "duration elapsed");
      for (const s of scheduled) if (s.state === "waiting" && elapsed >= s.at) await injectFault(s);
    });
    for (const s of [...scheduled].reverse()) await revertFault(s, "fault phase ended");

    const recoveryMs = exp.phases.recovery * scale;
    enterPhase("recovery", recoveryMs);
    await runPhase(recoveryMs);
    if (currentPhase) currentPhase.end = clock.now();
    await probes.close();
    if (load) record.series.load = await load.stop();
    for (const o of observers.splice(0)) await o.stop();
    record.endedAt = clock.now();

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
    if (load) record.series.load = await load.stop().catch(() => load?.series);
    for (const o of observers.splice(0)) await o.stop().catch(() => undefined);
    await webhook?.stop().catch(() => undefined);
    if (started || targetStart) {
      event("target", "stopping target");
      try {
        // a target that failed half-way through starting is undone from its journal record
        await (started ? started.stop() : targetStart ? driverFor(targetStart.driver).revert(targetStart) : undefined);
        if (targetStart) journal.append({ type: "reverted", actionId: "target#stack", by: "run" });
      } catch (err) {
        event("error", `stopping the target: ${errorMessage(err)}`);
      }
    }
    if (currentPhase && currentPhase.end === undefined) currentPhase.end = clock.now();
    if (revertFailures.length > 0) {
      verdict = "error";
      reason = `${reason ? `${reason}; ` : ""}could not revert ${revertFailures.length} action(s), recorded in the journal (run \`faultline recover --run ${runDir}\`): ${revertFailures.join("; ")}`;
    }
    record.verdict = verdict;
    if (reason !== undefined) record.reason = reason;
    record.endedAt ??= clock.now();
    journal.append({ type: "run-end", verdict });
    journal.close();
    await writeFile(join(runDir, "run.json"), JSON.stringify(record, null, 1));
    report.onEnd(record);
  }
  return { record, runDir };
}

function distributedEngine(tgt: Target, d: DistributedLoad | undefined, onStage: (stage: string, message: string) => void): LoadEngine {
  if (d === undefined) throw new FaultlineError("E_INVALID_INPUT", "engine k6-operator needs load.distributed");
  const k8s = tgt.kubernetes;
  if (k8s === undefined) throw new FaultlineError("E_TARGET", `engine k6-operator runs in a cluster: target ${tgt.metadata.name} has no kubernetes section`);
  const namespace = allowedNamespace(k8s, d.namespace, "load.distributed");
  return new K6OperatorLoadEngine({ kube: kube(k8s.kubeconfig, k8s.context), namespace, parallelism: d.parallelism, prometheus: d.prometheus, ...(d.remoteWrite ? { remoteWrite: d.remoteWrite } : {}), ...(d.runnerImage ? { runnerImage: d.runnerImage } : {}), onStage });
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
