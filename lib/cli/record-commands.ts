import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { ExitCode, FaultlineError } from "../errors.ts";
import { undoBackend } from "../engine/backends.ts";
import { verdictOf } from "../engine/plan.ts";
import { recoverAll, recoverRun } from "../engine/recover.ts";
import type { RecoverResult } from "../engine/recover.ts";
import { judgeAll } from "../judge/index.ts";
import { readRunRecord } from "../loader/run-record.ts";
import { renderRunHtml } from "../report/html.ts";
import type { Experiment } from "../schema/experiment.ts";
import { print } from "./options.ts";
import { checkMark } from "./console-reporter.ts";
import { VERDICT_EXIT } from "./suite.ts";

/** `recover`, `report` and `judge`: the commands that work from what runs left behind. */

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
  const record = await readRunRecord(file);
  if (record.spec === undefined) throw new FaultlineError("E_INVALID_INPUT", `${file} has no experiment in it (written by an older faultline?)`);
  const results = judgeAll(record.spec as Experiment, record);
  if (json) print(JSON.stringify(results, null, 2));
  else for (const a of results) print(`${checkMark(a.verdict)} ${a.name} (${a.kind}): ${a.message}`);
  if (record.verdict === "aborted" || record.verdict === "error") {
    print(`the run itself ended ${record.verdict}: ${record.reason ?? ""}`);
    return VERDICT_EXIT[record.verdict];
  }
  // inconclusive has its own code, as on `run`: a re-judged run that cannot tell is "run again", not a pass
  return VERDICT_EXIT[verdictOf(results).verdict];
}

export function addRecordCommands(program: Command, setExit: (code: number) => void): void {
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
      const record = await readRunRecord(file);
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
}
