import { mkdir, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pino } from "pino";
import { ExitCode, errorMessage, printable, worseExit } from "../errors.ts";
import { calibrationOf } from "../engine/calibration.ts";
import { runExperiment } from "../engine/run.ts";
import { summarizeRepeats } from "../judge/repeats.ts";
import { expandPaths, loadOne } from "../loader/documents.ts";
import { sourceWithScenarios } from "../loader/scenarios.ts";
import { headline } from "../report/markdown.ts";
import { countsText, renderJunit, writeIndex, writeRepeatReports, writeRunReports } from "../report/write.ts";
import type { Experiment } from "../schema/experiment.ts";
import type { RepeatRecord } from "../schema/repeat-record.ts";
import type { RunRecord, Verdict } from "../schema/run-record.ts";
import { isBuiltinTarget, loadTargetFile, resolveTargetRef } from "../targets/index.ts";
import { ConsoleReporter, verdictMark } from "./console-reporter.ts";
import { isInputError, print } from "./options.ts";
import { interruptible } from "./signals.ts";

export interface RunFlags {
  target?: string;
  dryRun?: boolean;
  out: string;
  timeScale: number;
  rateScale: number;
  stackSet: string[];
  stackConfig?: string;
  junit?: string;
  runId?: string;
  logLevel: string;
  /** runs of each experiment (fresh target each time); above 1 a repeat record sums them up */
  repeat?: number;
  /** `faultline calibrate`: faults planned, not injected; only the quiet checks judged */
  calibration?: boolean;
}

export const VERDICT_EXIT: Record<Verdict, number> = { pass: ExitCode.pass, fail: ExitCode.fail, inconclusive: ExitCode.inconclusive, aborted: ExitCode.aborted, error: ExitCode.error };

export interface SuiteResult {
  worst: number;
  records: { runDir: string; record: RunRecord }[];
  /** one per experiment run more than once, or calibrated */
  repeats: RepeatRecord[];
}

export async function run(paths: string[], flags: RunFlags): Promise<number> {
  const { worst, records } = await runSuite(paths, flags);
  if (flags.junit !== undefined && worst !== ExitCode.invalid) await writeFile(flags.junit, renderJunit(records.map((r) => r.record)));
  return worst;
}

/**
 * Every experiment of the suite, and every target file they name, loaded and checked before anything
 * runs: a mistake anywhere is exit 2 with every problem, and nothing starts.
 */
async function loadSuite(paths: string[], target: string | undefined): Promise<{ experiments: { file: string; exp: Experiment; targetRef: string }[]; problems: string[] }> {
  const files = await expandPaths(paths);
  const experiments: { file: string; exp: Experiment; targetRef: string }[] = [];
  const problems: string[] = [];
  const targetFiles = new Set<string>();
  for (const file of files) {
    try {
      const exp = await loadOne(file, "Experiment");
      const targetRef = target ?? (exp.target !== undefined ? resolveTargetRef(exp.target, dirname(file)) : undefined);
      if (targetRef === undefined) {
        problems.push(`${file}: no target: pass --target local, --target FILE, or set target: in the experiment`);
        continue;
      }
      experiments.push({ file, exp, targetRef });
      if (!isBuiltinTarget(targetRef)) targetFiles.add(targetRef);
    } catch (err) {
      if (!isInputError(err)) throw err;
      problems.push(err.message);
    }
  }
  // a target file is input like the experiments: a mistake in it is exit 2 before anything starts
  for (const t of targetFiles) {
    try {
      await loadTargetFile(t);
    } catch (err) {
      if (!isInputError(err)) throw err;
      problems.push(err.message);
    }
  }
  return { experiments, problems };
}

/**
 * Runs every experiment under `paths` in order, each `--repeat` times; every run leaves its run
 * folder, a repeated experiment a repeat record beside them, the suite an index.
 */
export async function runSuite(paths: string[], flags: RunFlags): Promise<SuiteResult> {
  const suite = await loadSuite(paths, flags.target);
  if (suite.problems.length > 0) {
    process.stderr.write(`${suite.problems.map((p) => printable(p, 10_000)).join("\n")}\n`);
    return { worst: ExitCode.invalid, records: [], repeats: [] };
  }
  await mkdir(flags.out, { recursive: true });
  const { signal, dispose } = interruptible();
  let worst: number = ExitCode.pass;
  const records: { runDir: string; record: RunRecord }[] = [];
  const repeats: RepeatRecord[] = [];
  const suiteStart = Date.now();
  const times = flags.repeat ?? 1;
  try {
    for (const { file, exp, targetRef } of suite.experiments) {
      const mine: { runDir: string; record: RunRecord }[] = [];
      for (let i = 1; i <= times && !signal.aborted; i++) {
        if (times > 1) process.stderr.write(`${exp.metadata.name}: run ${i} of ${times}${flags.calibration ? " (calibration: no faults)" : ""}\n`);
        const runId = flags.runId === undefined ? undefined : times > 1 ? `${flags.runId}-${i}` : flags.runId;
        const r = await runOne(file, exp, targetRef, flags, signal, runId);
        mine.push(r);
        // a dry run ends "aborted" by design once its plan holds: that is its success
        const verdict = flags.dryRun && r.record.verdict === "aborted" ? "pass" : r.record.verdict;
        worst = worseExit(worst, VERDICT_EXIT[verdict ?? "error"]);
      }
      records.push(...mine);
      if (mine.length > 0 && (times > 1 || flags.calibration)) repeats.push(await writeRepeats(flags, targetRef, mine));
      if (signal.aborted) break;
    }
  } finally {
    dispose();
  }
  const written = await writeIndex(flags.out, { runDirs: records.map((r) => r.runDir), startedAt: suiteStart });
  if (records.length > 1) {
    print(`\n${records.length} runs:`);
    for (const { record } of records) print(`  ${verdictMark(record.verdict)} ${record.verdict?.toUpperCase().padEnd(7)} ${record.experiment.name.padEnd(24)} ${headline(record)}`);
    if (written.summary) print(`summary: ${written.summary}`);
  }
  print(`reports: ${written.index}`);
  return { worst, records, repeats };
}

async function runOne(file: string, exp: Experiment, targetRef: string, flags: RunFlags, signal: AbortSignal, runId: string | undefined): Promise<{ runDir: string; record: RunRecord }> {
  const log = pino({ level: flags.logLevel, redact: ["*.token", "*.password", "*.authorization", "headers.authorization"] }, pino.destination(2));
  const { record, runDir } = await runExperiment({
    experiment: flags.calibration ? calibrationOf(exp) : exp,
    experimentFile: file,
    experimentSource: sourceWithScenarios(file, exp.scenarios),
    target: targetRef,
    ...(isBuiltinTarget(targetRef) ? {} : { targetFile: targetRef }),
    stackSets: flags.stackSet,
    ...(flags.stackConfig ? { stackConfig: flags.stackConfig } : {}),
    outDir: flags.out,
    timeScale: flags.timeScale,
    rateScale: flags.rateScale,
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...(flags.calibration ? { calibration: true } : {}),
    signal,
    reporters: [new ConsoleReporter()],
    log,
    ...(runId !== undefined ? { runId } : {}),
  });
  try {
    await writeRunReports(runDir, record);
    process.stderr.write(`  report: ${join(runDir, "report.html")}\n`);
  } catch (err) {
    process.stderr.write(`  could not write the report: ${errorMessage(err)} (run.json is in ${runDir})\n`);
  }
  return { runDir, record };
}

/** The runs of one experiment together: counts per check, medians and intervals, printed and written. */
async function writeRepeats(flags: RunFlags, targetRef: string, runs: { runDir: string; record: RunRecord }[]): Promise<RepeatRecord> {
  const kind = flags.calibration ? "calibration" : "repeat";
  // run folders by name: the record sits in a sibling folder, and the whole --out folder may move
  const rec = summarizeRepeats(kind, runs.map((r) => ({ ...r, runDir: basename(r.runDir) })), { target: runs[0]?.record.target.name ?? targetRef, timeScale: flags.timeScale, rateScale: flags.rateScale });
  const dir = await writeRepeatReports(flags.out, rec);
  print(`\n${rec.experiment} × ${rec.runs.length}${kind === "calibration" ? " without faults (calibration)" : ""}: ${countsText(rec.verdicts)}`);
  for (const a of rec.assertions) print(`  ${a.name.padEnd(36)} ${countsText(a.counts)}`);
  for (const m of rec.metrics) {
    const f = (v: number): string => (m.unit === "ratio" ? `${(v * 100).toFixed(2)} %` : `${v.toFixed(0)} ms`);
    print(`  ${m.subject.padEnd(36)} median ${f(m.spread.median)}, 95 % interval ${f(m.spread.ci[0])} – ${f(m.spread.ci[1])}`);
  }
  if (kind === "calibration") print(`  false alarms: ${rec.verdicts.fail + rec.verdicts.aborted} of ${rec.runs.length} runs`);
  print(`  ${join(dir, "report.html")}`);
  return rec;
}
