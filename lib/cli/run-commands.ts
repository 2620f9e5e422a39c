import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { pino } from "pino";
import { ExitCode, ValidationError, errorMessage, printable, worseExit } from "../errors.ts";
import { runExperiment } from "../engine/run.ts";
import { DEFAULT_LIMITS, compareRuns, deltasMarkdown, loadBaselines, parseLimits } from "../gate/compare.ts";
import type { Delta } from "../gate/compare.ts";
import { expandPaths, loadFile, loadOne } from "../loader/documents.ts";
import { sourceWithScenarios } from "../loader/scenarios.ts";
import { headline } from "../report/markdown.ts";
import { renderJunit, writeIndex, writeRunReports } from "../report/write.ts";
import type { Experiment } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord, Verdict } from "../schema/run-record.ts";
import { isBuiltinTarget, loadTargetFile, resolveTargetRef } from "../targets/index.ts";
import { ConsoleReporter, verdictMark } from "./console-reporter.ts";
import { collect, isInputError, positiveNumber, print } from "./options.ts";
import { interruptible } from "./signals.ts";

/** `validate`, `run` and `gate`: the commands that read experiments and run them. */

export const VERDICT_EXIT: Record<Verdict, number> = { pass: ExitCode.pass, fail: ExitCode.fail, inconclusive: ExitCode.inconclusive, aborted: ExitCode.aborted, error: ExitCode.error };

async function validate(paths: string[]): Promise<number> {
  const files = await expandPaths(paths);
  let bad = 0;
  for (const file of files) {
    try {
      const docs = await loadFile(file);
      for (const d of docs) print(`ok   ${file} (${d.parsed.kind} ${d.parsed.value.metadata.name})`);
    } catch (err) {
      // an unreadable file (a dangling link, a FIFO) is one bad file: the others are still checked
      if (!isInputError(err)) throw err;
      bad++;
      process.stderr.write(`${err instanceof ValidationError ? err.message : printable(err.message)}\n`);
    }
  }
  if (files.length === 0) {
    process.stderr.write(`no YAML files in ${paths.join(", ")}\n`);
    return ExitCode.invalid;
  }
  print(`${files.length - bad} valid, ${bad} invalid`);
  return bad > 0 ? ExitCode.invalid : ExitCode.pass;
}

interface RunFlags {
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
}

async function run(paths: string[], flags: RunFlags): Promise<number> {
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

/** Runs every experiment under `paths` in order; each leaves its run folder, the suite an index. */
async function runSuite(paths: string[], flags: RunFlags): Promise<{ worst: number; records: { runDir: string; record: RunRecord }[] }> {
  const suite = await loadSuite(paths, flags.target);
  if (suite.problems.length > 0) {
    process.stderr.write(`${suite.problems.map((p) => printable(p, 10_000)).join("\n")}\n`);
    return { worst: ExitCode.invalid, records: [] };
  }
  const experiments = suite.experiments;
  await mkdir(flags.out, { recursive: true });
  const { signal, dispose } = interruptible();
  let worst: number = ExitCode.pass;
  const records: { runDir: string; record: RunRecord }[] = [];
  const suiteStart = Date.now();
  try {
    for (const { file, exp, targetRef } of experiments) {
      const log = pino({ level: flags.logLevel, redact: ["*.token", "*.password", "*.authorization", "headers.authorization"] }, pino.destination(2));
      const { record, runDir } = await runExperiment({
        experiment: exp,
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
        signal,
        reporters: [new ConsoleReporter()],
        log,
        ...(flags.runId !== undefined ? { runId: flags.runId } : {}),
      });
      try {
        await writeRunReports(runDir, record);
        process.stderr.write(`  report: ${join(runDir, "report.html")}\n`);
      } catch (err) {
        process.stderr.write(`  could not write the report: ${errorMessage(err)} (run.json is in ${runDir})\n`);
      }
      records.push({ runDir, record });
      // a dry run ends "aborted" by design once its plan holds: that is its success
      const verdict = flags.dryRun && record.verdict === "aborted" ? "pass" : record.verdict;
      worst = worseExit(worst, VERDICT_EXIT[verdict ?? "error"]);
      if (signal.aborted) break;
    }
  } finally {
    dispose();
  }
  const written = await writeIndex(flags.out, { runDirs: records.map((r) => r.runDir), startedAt: suiteStart });
  if (records.length > 1) {
    print(`\n${records.length} experiments:`);
    for (const { record } of records) print(`  ${verdictMark(record.verdict)} ${record.verdict?.toUpperCase().padEnd(7)} ${record.experiment.name.padEnd(24)} ${headline(record)}`);
    if (written.summary) print(`summary: ${written.summary}`);
  }
  print(`reports: ${written.index}`);
  return { worst, records };
}

interface GateFlags extends RunFlags {
  baseline: string;
  maxRegression: string[];
}

/** `run`, then every run compared with its baseline: a regression fails the gate like a failed assertion. */
async function gate(paths: string[], flags: GateFlags): Promise<number> {
  const limits = parseLimits(flags.maxRegression);
  const baselines = await loadBaselines(flags.baseline);
  const { worst, records } = await runSuite(paths, flags);
  if (worst === ExitCode.invalid) return worst;
  const compared = records.map(({ record: r }) => {
    const b = baselines.get(r.experiment.name);
    return { record: r, deltas: b ? compareRuns(b.record, r, limits) : [] };
  });
  // JUnit: each compared metric is one more testcase of its experiment's suite
  if (flags.junit !== undefined) {
    await writeFile(flags.junit, renderJunit(compared.map(({ record: r, deltas: d }) => ({ ...r, assertions: [...r.assertions, ...d.map((x) => regressionResult(x, r))] }))));
  }
  if (records.length === 0) return worst;
  const deltas = compared.flatMap((c) => c.deltas);
  const missing = records.map((r) => r.record.experiment.name).filter((n) => !baselines.has(n));
  const unsure = records.filter((r) => r.record.verdict === "inconclusive").map((r) => r.record.experiment.name);
  const md = deltasMarkdown(deltas, missing, unsure);
  const file = join(flags.out, "gate.md");
  await writeFile(file, md);
  if (process.env.GITHUB_STEP_SUMMARY) await writeFile(process.env.GITHUB_STEP_SUMMARY, md, { flag: "a" });
  print(`\nregression gate against ${flags.baseline}:`);
  for (const d of deltas) print(`  ${d.regressed ? "✗" : "✓"} ${d.experiment.padEnd(22)} ${d.subject.padEnd(24)} ${d.baseline.toFixed(0)} ms → ${d.current.toFixed(0)} ms (${d.change >= 0 ? "+" : ""}${(d.change * 100).toFixed(0)} %, limit +${(d.limit * 100).toFixed(0)} %)`);
  for (const m of missing) print(`  - ${m}: no baseline, not compared`);
  for (const m of unsure) print(`  ? ${m}: inconclusive, run it again (the instrument could not tell)`);
  print(`gate: ${file}`);
  const regressed = deltas.filter((d) => d.regressed).length;
  if (regressed > 0) print(`${regressed} regression(s): the gate fails`);
  return worseExit(worst, regressed > 0 ? ExitCode.fail : ExitCode.pass);
}

function regressionResult(d: Delta, r: RunRecord): AssertionResult {
  const limit = d.baseline * (1 + d.limit);
  return {
    name: `regression: ${d.subject}`,
    kind: "regression",
    verdict: d.regressed ? "fail" : "pass",
    measured: d.current,
    limit,
    unit: "ms",
    window: { start: r.startedAt, end: r.endedAt ?? r.startedAt },
    message: `${d.metric}: ${d.baseline.toFixed(0)}ms in the baseline, ${d.current.toFixed(0)}ms now (${d.change >= 0 ? "+" : ""}${(d.change * 100).toFixed(0)} %, limit +${(d.limit * 100).toFixed(0)} %)`,
    evidence: [d],
  };
}

export function addRunCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command("validate")
    .description("check experiment and target files; prints file:line:col for every problem")
    .argument("<paths...>", "files or folders")
    .action(async (paths: string[]) => setExit(await validate(paths)));

  const runOptions = (c: Command): Command =>
    c
      .option("-t, --target <target>", "local (the reference stack as processes, per experiment), testcontainers (the same in Docker), kubernetes (the local control plane) or a target file; overrides the experiment's target:")
      .option("-o, --out <dir>", "where run folders go", "reports")
      .option("--time-scale <factor>", "multiply every phase and fault time (e.g. 0.1 for a quick run)", positiveNumber, 1)
      .option("--dry-run", "plan every fault against the target and print what it would change; inject nothing")
      .option("--rate-scale <factor>", "multiply the load's request rate", positiveNumber, 1)
      .option("--stack-set <key=value>", "with --target local: override one stack config key (repeatable), e.g. rollout.autoRollback=false", collect, [] as string[])
      .option("--stack-config <file>", "with --target local: the stack config file")
      .option("--junit <file>", "also write one JUnit XML file for every experiment run")
      .option("--run-id <id>", "use this run id instead of a generated one")
      .addOption(new Option("--log-level <level>", "structured log level on stderr").choices(["silent", "error", "warn", "info", "debug"]).default("silent"));
  runOptions(program.command("run").description("run experiments: baseline, faults, recovery, judgement").argument("<paths...>", "experiment files or folders")).action(
    async (paths: string[], flags: RunFlags) => setExit(await run(paths, flags)),
  );
  runOptions(
    program
      .command("gate")
      .description("the CI gate: run a suite, then fail on a failed assertion or on a regression against a baseline run")
      .argument("<paths...>", "experiment files or folders (the suite)")
      .requiredOption("--baseline <dir>", "a run folder, or a folder of them (a previous --out): the newest passing run of each experiment"),
  )
    .option("--max-regression <metric=pct>", `allowed growth of a lower-is-better metric (repeatable; defaults ${Object.entries(DEFAULT_LIMITS).map(([k, v]) => `${k}=${v * 100}%`).join(", ")})`, collect, [] as string[])
    .action(async (paths: string[], flags: GateFlags) => setExit(await gate(paths, flags)));
}
