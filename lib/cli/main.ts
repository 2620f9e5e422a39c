import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { pino } from "pino";
import { ExitCode, FaultlineError, ValidationError, errorMessage, printable } from "../errors.ts";
import { undoBackend } from "../engine/backends.ts";
import { recoverAll, recoverRun } from "../engine/recover.ts";
import type { RecoverResult } from "../engine/recover.ts";
import { runExperiment } from "../engine/run.ts";
import { expandPaths, loadFile, loadOne } from "../loader/documents.ts";
import { sourceWithScenarios } from "../loader/scenarios.ts";
import { SCHEMA_KINDS, jsonSchema } from "../schema/json-schema.ts";
import { faultKindsMarkdown } from "../schema/faults.ts";
import type { SchemaKind } from "../schema/json-schema.ts";
import type { AssertionResult, RunRecord, Verdict } from "../schema/run-record.ts";
import type { Experiment } from "../schema/experiment.ts";
import { judgeAll } from "../judge/index.ts";
import { isBuiltinTarget, loadTargetFile, resolveTargetRef } from "../targets/index.ts";
import { DEFAULT_LIMITS, compareRuns, deltasMarkdown, loadBaselines, parseLimits } from "../gate/compare.ts";
import type { Delta } from "../gate/compare.ts";
import { ConsoleReporter, verdictMark } from "./console-reporter.ts";
import { headline } from "../report/markdown.ts";
import { renderJunit, writeIndex, writeRunReports } from "../report/write.ts";
import { renderRunHtml } from "../report/html.ts";
import { addLoadCommands } from "./load-commands.ts";
import { collect, positiveNumber } from "./options.ts";
import { addStackCommands } from "./stack-commands.ts";
import { addK8sCommands } from "./k8s-commands.ts";
import { addGameDayCommand } from "./gameday-command.ts";
import { interruptible } from "./signals.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const EXAMPLES = `
Examples:
  $ faultline validate experiments/
  $ faultline run experiments/region-partition.yaml --target target.yaml
  $ faultline run experiments/ --target target.yaml --time-scale 0.1
  $ faultline recover                      # revert what crashed runs left in reports/
  $ faultline recover --sweep --toxiproxy http://127.0.0.1:8474
  $ faultline recover --containers          # and remove containers of testcontainers runs that died
  $ faultline schema > experiment.schema.json

Exit codes: 0 pass, 1 fail (the system failed an assertion), 2 invalid input,
            3 aborted (steady state, abort condition or interrupt), 4 error (could not run).`;

const VERDICT_EXIT: Record<Verdict, number> = { pass: ExitCode.pass, fail: ExitCode.fail, aborted: ExitCode.aborted, error: ExitCode.error };

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

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

/** A mistake in what the user gave (a document, a file that cannot be read): exit 2, never a stack trace. */
function isInputError(err: unknown): err is FaultlineError {
  return err instanceof ValidationError || (err instanceof FaultlineError && err.code === "E_FILE");
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

/** Runs every experiment under `paths` in order; each leaves its run folder, the suite an index. */
async function runSuite(paths: string[], flags: RunFlags): Promise<{ worst: number; records: { runDir: string; record: RunRecord }[] }> {
  const files = await expandPaths(paths);
  const experiments: { file: string; exp: Experiment; targetRef: string }[] = [];
  const problems: string[] = [];
  const targetFiles = new Set<string>();
  for (const file of files) {
    try {
      const exp = await loadOne(file, "Experiment");
      const targetRef = flags.target ?? (exp.target !== undefined ? resolveTargetRef(exp.target, dirname(file)) : undefined);
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
  if (problems.length > 0) {
    process.stderr.write(`${problems.map((p) => printable(p, 10_000)).join("\n")}\n`);
    return { worst: ExitCode.invalid, records: [] };
  }
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
      worst = Math.max(worst, VERDICT_EXIT[verdict ?? "error"]);
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
  const baselines = loadBaselines(flags.baseline);
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
  const md = deltasMarkdown(deltas, missing);
  const file = join(flags.out, "gate.md");
  await writeFile(file, md);
  if (process.env.GITHUB_STEP_SUMMARY) await writeFile(process.env.GITHUB_STEP_SUMMARY, md, { flag: "a" });
  print(`\nregression gate against ${flags.baseline}:`);
  for (const d of deltas) print(`  ${d.regressed ? "✗" : "✓"} ${d.experiment.padEnd(22)} ${d.subject.padEnd(24)} ${d.baseline.toFixed(0)} ms → ${d.current.toFixed(0)} ms (${d.change >= 0 ? "+" : ""}${(d.change * 100).toFixed(0)} %, limit +${(d.limit * 100).toFixed(0)} %)`);
  for (const m of missing) print(`  - ${m}: no baseline, not compared`);
  print(`gate: ${file}`);
  const regressed = deltas.filter((d) => d.regressed).length;
  if (regressed > 0) print(`${regressed} regression(s): the gate fails`);
  return Math.max(worst, regressed > 0 ? ExitCode.fail : ExitCode.pass);
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

function printRecover(r: RecoverResult): void {
  if (r.skipped) print(`skip ${r.runDir}: ${r.skipped}`);
  for (const d of r.reverted) print(`reverted  ${d}  (${r.runDir})`);
  for (const f of r.failed) print(`FAILED    ${f.description}: ${f.error}  (${r.runDir})`);
}

async function recover(flags: { run?: string; out: string; sweep?: boolean; toxiproxy?: string; force?: boolean; containers?: boolean }): Promise<number> {
  let failed = 0;
  let reverted = 0;
  let running = 0;
  const force = { force: flags.force ?? false };
  const results = flags.run !== undefined ? [await recoverRun(flags.run, force)] : await recoverAll(flags.out, force);
  for (const r of results) {
    printRecover(r);
    failed += r.failed.length;
    reverted += r.reverted.length;
    if (r.skipped !== undefined) running++;
  }
  // by name and label, journal or not: Toxiproxy's toxics (--sweep), dead runs' containers (--containers)
  if (flags.sweep && flags.toxiproxy === undefined) throw new FaultlineError("E_INVALID_INPUT", "--sweep needs --toxiproxy URL");
  const sweeps = [...(flags.sweep ? ["toxiproxy"] : []), ...(flags.containers ? ["testcontainers"] : [])];
  for (const name of sweeps) {
    const r = await undoBackend(name).sweep?.({ ...(flags.toxiproxy ? { toxiproxy: flags.toxiproxy } : {}) });
    for (const what of r?.swept ?? []) print(`swept     ${what}`);
    for (const f of r?.failed ?? []) print(`FAILED    ${f.what}: ${f.error}`);
    reverted += r?.swept.length ?? 0;
    failed += r?.failed.length ?? 0;
  }
  if (reverted + failed > 0) print(`${reverted} reverted, ${failed} failed`);
  if (running > 0) print(`${running} run(s) still running with faults injected: left to them (--force reverts them now)`);
  if (reverted + failed + running === 0) print("nothing to recover");
  return failed > 0 ? ExitCode.error : ExitCode.pass;
}

async function judgeStored(file: string, json: boolean): Promise<number> {
  let record: RunRecord;
  try {
    record = JSON.parse(await readFile(file, "utf8")) as RunRecord;
  } catch (cause) {
    throw new FaultlineError("E_FILE", `cannot read ${file}: ${errorMessage(cause)}`, { cause });
  }
  if (record.spec === undefined) throw new FaultlineError("E_INVALID_INPUT", `${file} has no experiment in it (written by an older faultline?)`);
  const results = judgeAll(record.spec as Experiment, record);
  const failed = results.filter((a) => a.verdict === "fail");
  if (json) print(JSON.stringify(results, null, 2));
  else for (const a of results) print(`${a.verdict === "pass" ? "✓" : "✗"} ${a.name} (${a.kind}): ${a.message}`);
  if (record.verdict === "aborted" || record.verdict === "error") {
    print(`the run itself ended ${record.verdict}: ${record.reason ?? ""}`);
    return VERDICT_EXIT[record.verdict];
  }
  return failed.length > 0 ? ExitCode.fail : ExitCode.pass;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("faultline")
    .description("Chaos experiments for AI inference fleets: inject faults, watch, judge, never leave a fault behind.")
    .version(pkg.version)
    .addHelpText("after", EXAMPLES)
    .exitOverride()
    .showHelpAfterError("(faultline --help lists commands and examples)");

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
  runOptions(
    program
      .command("run")
      .description("run experiments: baseline, faults, recovery, judgement")
      .argument("<paths...>", "experiment files or folders"),
  ).action(async (paths: string[], flags: RunFlags) => setExit(await run(paths, flags)));

  runOptions(
    program
      .command("gate")
      .description("the CI gate: run a suite, then fail on a failed assertion or on a regression against a baseline run")
      .argument("<paths...>", "experiment files or folders (the suite)")
      .requiredOption("--baseline <dir>", "a run folder, or a folder of them (a previous --out): the newest passing run of each experiment"),
  )
    .option("--max-regression <metric=pct>", `allowed growth of a lower-is-better metric (repeatable; defaults ${Object.entries(DEFAULT_LIMITS).map(([k, v]) => `${k}=${v * 100}%`).join(", ")})`, collect, [] as string[])
    .action(async (paths: string[], flags: GateFlags) => setExit(await gate(paths, flags)));

  program
    .command("recover")
    .description("revert every fault a crashed or killed run left behind, from its journal")
    .option("--run <dir>", "one run folder (default: every unfinished run under --out)")
    .option("-o, --out <dir>", "where run folders are", "reports")
    .option("--force", "also revert runs whose process is still alive (a runner left behind by its wrapper, say)")
    .option("--sweep", "also remove every faultline toxic found on --toxiproxy, journal or not")
    .option("--toxiproxy <url>", "Toxiproxy API for --sweep")
    .option("--containers", "also remove the containers and networks of testcontainers runs whose process on this host is gone, journal or not")
    .action(async (flags) => setExit(await recover(flags)));

  program
    .command("report")
    .description("regenerate report.html (and the index) from a stored run.json")
    .argument("<run.json>", "a run.json written by faultline run")
    .option("-o, --output <file>", "where to write the HTML (default: report.html beside run.json)")
    .action(async (file: string, flags: { output?: string }) => {
      const record = JSON.parse(await readFile(file, "utf8")) as RunRecord;
      const target = flags.output ?? join(dirname(file), "report.html");
      await writeFile(target, renderRunHtml(record));
      print(target);
      setExit(ExitCode.pass);
    });

  program
    .command("judge")
    .description("re-judge a stored run from its run.json alone (assertions are pure functions of the recorded run)")
    .argument("<run.json>", "a run.json written by faultline run")
    .option("--json", "print the verdicts as JSON")
    .action(async (file: string, flags: { json?: boolean }) => setExit(await judgeStored(file, flags.json ?? false)));

  program
    .command("schema")
    .description("print the JSON Schema of a document kind (for editors: yaml-language-server)")
    .addOption(new Option("--kind <kind>", "document kind").choices(Object.keys(SCHEMA_KINDS)).default("experiment"))
    .option("--run", "the schema of run.json (same as --kind run)")
    .action((flags: { kind: SchemaKind; run?: boolean }) => print(JSON.stringify(jsonSchema(flags.run ? "run" : flags.kind), null, 2)));

  program
    .command("kinds")
    .description("list the fault kinds: which backends inject each, what it does, its parameters")
    .action(() => {
      print(faultKindsMarkdown());
      setExit(ExitCode.pass);
    });

  addStackCommands(program, setExit);
  addK8sCommands(program, setExit);
  addGameDayCommand(program, setExit);
  addLoadCommands(program, setExit);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // A closed pipe (`faultline run … | head`) must not kill a run before it reverts and stops its stack.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  let code: number = ExitCode.pass;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : ExitCode.invalid;
    }
    if (err instanceof ValidationError) {
      process.stderr.write(`${err.message}\n`);
      return ExitCode.invalid;
    }
    if (err instanceof FaultlineError) {
      process.stderr.write(`faultline: ${errorMessage(err)}\n`);
      return err.code === "E_INVALID_INPUT" || err.code === "E_FILE" ? ExitCode.invalid : ExitCode.error;
    }
    process.stderr.write(`faultline: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return ExitCode.error;
  }
}

