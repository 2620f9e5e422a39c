import { mkdir, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { Logger } from "pino";
import { FaultlineError } from "../errors.ts";
import { makeRunId, runExperiment } from "../engine/run.ts";
import type { PlannedRun } from "../engine/run.ts";
import type { RunReporter } from "../engine/reporter.ts";
import { writeIndex, writeRunReports } from "../report/write.ts";
import type { Experiment } from "../schema/experiment.ts";
import type { GameDay, GameDayStep } from "../schema/gameday.ts";
import { loadOne } from "../loader/documents.ts";
import { sourceWithScenarios } from "../loader/scenarios.ts";
import { isBuiltinTarget, loadTargetFile, resolveTargetRef } from "../targets/index.ts";
import { renderGameDayHtml, renderGameDayMarkdown } from "./report.ts";
import type { GameDayResult, StepOutcome, StepResult } from "./types.ts";

export type { GameDayResult, StepOutcome, StepResult };

/** How a game day talks to its operator: a terminal, or nobody (then only `--yes` runs it). */
export interface OperatorIO {
  interactive: boolean;
  print(text: string): void;
  /** One typed line. */
  ask(question: string): Promise<string>;
  /** Lines typed while a step runs (not answers): each becomes a note. Returns an unsubscribe. */
  onNote(fn: (line: string) => void): () => void;
}

export interface GameDayOptions {
  yes: boolean;
  target?: string;
  out: string;
  timeScale?: number;
  rateScale?: number;
  reporters?: RunReporter[];
  log?: Logger;
  signal?: AbortSignal;
}

function describePlan(p: PlannedRun): string {
  const lines = [`  target ${p.target}${p.blastRadius !== undefined ? ` — blast radius at most ${Math.round(p.blastRadius * 100)} % of what a selector matches` : ""}`];
  for (const f of p.faults) {
    lines.push(`  ${f.name} (${f.kind}) at +${(f.atMs / 1000).toFixed(0)}s for ${(f.durationMs / 1000).toFixed(0)}s hits ${f.targets.length}: ${f.targets.join(", ")}`);
    for (const a of f.actions) lines.push(`    · ${a}`);
  }
  return lines.join("\n");
}

interface PlannedStep {
  path: string;
  exp: Experiment;
  targetRef: string | undefined;
}

/** Every step's experiment, and the target files they name, loaded and validated before the first one runs. */
async function loadSteps(file: string, plan: GameDay, o: GameDayOptions): Promise<PlannedStep[]> {
  const base = dirname(file);
  const out: PlannedStep[] = [];
  for (const s of plan.steps) {
    const path = isAbsolute(s.experiment) ? s.experiment : join(base, s.experiment);
    const exp = await loadOne(path, "Experiment");
    // each `target:` is relative to the file that says it; --target is taken as given
    const targetRef = o.target ?? (plan.target !== undefined ? resolveTargetRef(plan.target, base) : exp.target !== undefined ? resolveTargetRef(exp.target, dirname(path)) : undefined);
    if (targetRef !== undefined && !isBuiltinTarget(targetRef)) await loadTargetFile(targetRef);
    out.push({ path, exp, targetRef });
  }
  return out;
}

/** One step: read out, confirmed (or declined), run, its notes kept. A step that cannot run is that step's error. */
async function runStep(i: number, plan: GameDay, planned: PlannedStep, io: OperatorIO, o: GameDayOptions, dir: string): Promise<StepResult> {
  const step = plan.steps[i] as GameDayStep;
  const { path, exp, targetRef } = planned;
  io.print(
    [
      "",
      `── step ${i + 1}/${plan.steps.length}: ${step.title}${step.owner ? ` (${step.owner})` : ""}`,
      `  hypothesis: ${step.hypothesis}`,
      ...(step.runbook ? [`  runbook: ${step.runbook}`] : []),
      ...(step.expectAlerts.length ? [`  expected alerts: ${step.expectAlerts.join(", ")}`] : []),
      `  experiment: ${relative(process.cwd(), path)}`,
    ].join("\n"),
  );
  const notes: { t: number; text: string }[] = [];
  let noteSink: ((text: string) => void) | undefined;
  const off = io.onNote((line) => {
    if (line.trim() === "") return;
    notes.push({ t: Date.now(), text: line.trim() });
    noteSink?.(line.trim());
    io.print(`  note added: ${line.trim()}`);
  });
  let declined = false;
  const confirm = async (p: PlannedRun): Promise<boolean> => {
    io.print(`  about to inject:\n${describePlan(p)}`);
    if (o.yes) {
      io.print("  confirmed by --yes");
      return true;
    }
    const answer = (await io.ask("  inject now? [y/N] ")).trim().toLowerCase();
    declined = !(answer === "y" || answer === "yes");
    io.print(declined ? "  declined: nothing is injected in this step" : "  confirmed; type a line at any time to add a note to the timeline");
    return !declined;
  };
  try {
    if (targetRef === undefined) throw new FaultlineError("E_TARGET", `step ${i + 1}: no target (give the plan a target:, or --target)`);
    const { record, runDir } = await runExperiment({
      experiment: exp,
      experimentFile: path,
      experimentSource: sourceWithScenarios(path, exp.scenarios),
      target: targetRef,
      outDir: dir,
      ...(o.timeScale !== undefined ? { timeScale: o.timeScale } : {}),
      ...(o.rateScale !== undefined ? { rateScale: o.rateScale } : {}),
      ...(o.reporters ? { reporters: o.reporters } : {}),
      ...(o.log ? { log: o.log } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      attachNotes: (sink) => (noteSink = sink),
      confirm,
    });
    await writeRunReports(runDir, record);
    const fired = [...new Set(record.timeline.filter((e) => e.type === "alert.firing").map((e) => String((e.data?.labels as Record<string, string> | undefined)?.alertname ?? "?")))];
    const outcome: StepOutcome = declined ? "declined" : (record.verdict ?? "error");
    io.print(`  step ${i + 1}: ${outcome.toUpperCase()}${record.reason && outcome !== "pass" ? ` — ${record.reason}` : ""}`);
    return { index: i, step, outcome, runDir, record, notes, alertsFired: fired, ...(record.reason ? { reason: record.reason } : {}) };
  } catch (err) {
    // a step that could not even run (its target did not start, say) is an error of that step:
    // the day's report is still written
    const reason = err instanceof Error ? err.message : String(err);
    io.print(`  step ${i + 1}: ERROR — ${reason}`);
    return { index: i, step, outcome: "error", notes, alertsFired: [], reason };
  } finally {
    off();
  }
}

/** Runs a game day plan step by step, asking before each injection, and writes one consolidated report. */
export async function runGameDay(file: string, plan: GameDay, io: OperatorIO, o: GameDayOptions): Promise<GameDayResult> {
  if (!io.interactive && !o.yes) {
    throw new FaultlineError("E_INVALID_INPUT", "a game day asks before each injection: run it in a terminal, or pass --yes to run every step without asking");
  }
  const steps = await loadSteps(file, plan, o);
  const startedAt = Date.now();
  const dir = resolve(o.out, makeRunId(`gameday-${plan.metadata.name}`, startedAt));
  await mkdir(dir, { recursive: true });
  io.print(`game day: ${plan.title} — owners ${plan.owners.join(", ")}${plan.runbook ? ` — runbook ${plan.runbook}` : ""}\n${plan.steps.length} steps; reports in ${dir}`);
  const results: StepResult[] = [];
  let halted: number | undefined;
  for (const [i, step] of plan.steps.entries()) {
    if (halted !== undefined || o.signal?.aborted) {
      results.push({ index: i, step, outcome: "skipped", notes: [], alertsFired: [], reason: halted !== undefined ? `the plan halted after step ${halted + 1}` : "interrupted" });
      continue;
    }
    const r = await runStep(i, plan, steps[i] as PlannedStep, io, o, dir);
    results.push(r);
    if (r.outcome !== "pass" && r.outcome !== "declined" && (step.haltOnFailure ?? plan.haltOnFailure)) halted = i;
  }
  const result: GameDayResult = { plan, file, dir, startedAt, endedAt: Date.now(), steps: results, ...(halted !== undefined ? { halted } : {}) };
  await writeIndex(dir, { runDirs: results.flatMap((r) => (r.runDir ? [r.runDir] : [])), startedAt });
  await writeFile(join(dir, "gameday.html"), renderGameDayHtml(result));
  await writeFile(join(dir, "gameday.md"), renderGameDayMarkdown(result));
  await writeFile(join(dir, "gameday.json"), JSON.stringify({ ...result, steps: results.map(({ record: _record, ...r }) => r) }, null, 1));
  io.print(`\ngame day report: ${join(dir, "gameday.html")}`);
  return result;
}
