import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { ExitCode, ValidationError, printable, worseExit } from "../errors.ts";
import { DEFAULT_LIMITS, compareRepeats, compareRuns, deltasMarkdown, loadBaselineRepeats, loadBaselines, parseLimits } from "../gate/compare.ts";
import type { Delta } from "../gate/compare.ts";
import { expandPaths, loadFile } from "../loader/documents.ts";
import { renderJunit } from "../report/write.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { collect, isInputError, positiveNumber, print, wholeNumber } from "./options.ts";
import { run, runSuite } from "./suite.ts";
import type { RunFlags } from "./suite.ts";

/** `validate`, `run` and `gate`: the commands that read experiments and run them. */


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

interface GateFlags extends RunFlags {
  baseline: string;
  maxRegression: string[];
}

/**
 * `run`, then every experiment compared with its baseline: a regression fails the gate like a failed
 * assertion. Repeats on both sides are compared as distributions; else the last run against the
 * baseline's newest passing run.
 */
async function gate(paths: string[], flags: GateFlags): Promise<number> {
  const limits = parseLimits(flags.maxRegression);
  const baselines = await loadBaselines(flags.baseline);
  const baselineRepeats = await loadBaselineRepeats(flags.baseline);
  const { worst, records, repeats } = await runSuite(paths, flags);
  if (worst === ExitCode.invalid) return worst;
  const last = new Map(records.map((r) => [r.record.experiment.name, r.record]));
  const compared = [...last.values()].map((r) => {
    const name = r.experiment.name;
    const [br, cr] = [baselineRepeats.get(name), repeats.find((x) => x.experiment === name)];
    if (br !== undefined && cr !== undefined) return { record: r, deltas: compareRepeats(br, cr, limits) };
    const b = baselines.get(name);
    return { record: r, deltas: b ? compareRuns(b.record, r, limits) : [] };
  });
  // JUnit: each compared metric is one more testcase of its experiment's suite
  if (flags.junit !== undefined) {
    await writeFile(flags.junit, renderJunit(compared.map(({ record: r, deltas: d }) => ({ ...r, assertions: [...r.assertions, ...d.map((x) => regressionResult(x, r))] }))));
  }
  if (records.length === 0) return worst;
  const deltas = compared.flatMap((c) => c.deltas);
  const missing = [...last.keys()].filter((n) => !baselines.has(n) && !baselineRepeats.has(n));
  const unsure = [...new Set(records.filter((r) => r.record.verdict === "inconclusive").map((r) => r.record.experiment.name))];
  const md = deltasMarkdown(deltas, missing, unsure);
  const file = join(flags.out, "gate.md");
  await writeFile(file, md);
  if (process.env.GITHUB_STEP_SUMMARY) await writeFile(process.env.GITHUB_STEP_SUMMARY, md, { flag: "a" });
  print(`\nregression gate against ${flags.baseline}:`);
  for (const d of deltas) print(`  ${d.regressed ? "✗" : "✓"} ${d.experiment.padEnd(22)} ${d.subject.padEnd(24)} ${d.baseline.toFixed(0)} ms → ${d.current.toFixed(0)} ms (${d.change >= 0 ? "+" : ""}${(d.change * 100).toFixed(0)} %, limit +${(d.limit * 100).toFixed(0)} %)${d.test ? `, medians of ${d.test.baselineRuns} and ${d.test.currentRuns} runs, Mann–Whitney p = ${d.test.p.toFixed(3)}` : ""}`);
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
      .option("--repeat <n>", "run each experiment N times (a fresh stack each time on local and testcontainers) and write a repeat record: per check the pass/fail/inconclusive counts, per measurement the median and its 95 % interval", wholeNumber, 1)
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
  runOptions(
    program
      .command("calibrate")
      .description("run experiments with their load and phases but no fault, N times: the false-alarm rate of every check that must stay quiet without one")
      .argument("<paths...>", "experiment files or folders"),
  )
    .option("--runs <n>", "how many runs", wholeNumber, 10)
    .action(async (paths: string[], flags: RunFlags & { runs: number }) => setExit(await run(paths, { ...flags, repeat: flags.runs, calibration: true })));
}
