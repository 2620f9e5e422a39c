import { mkdir, readdir, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { readRepeatRecord } from "../loader/run-record.ts";
import { REPEATS_FILE } from "../schema/repeat-record.ts";
import type { RepeatRecord } from "../schema/repeat-record.ts";
import type { RunRecord } from "../schema/run-record.ts";
import { escapeHtml, renderRunHtml } from "./html.ts";
import { listRuns, renderIndex } from "./index-page.ts";
import { renderJunit } from "./junit.ts";
import { renderSummary } from "./markdown.ts";
import { countsText, renderRepeats } from "./repeats.ts";

/** report.html, junit.xml and summary.md beside a run's run.json; the report names the experiment's last calibration on this target. */
export async function writeRunReports(runDir: string, record: RunRecord): Promise<void> {
  const cal = record.calibration ? undefined : await lastCalibration(dirname(runDir), record.experiment.name, record.target.name);
  await writeFile(join(runDir, "report.html"), renderRunHtml(record, cal ? calibrationLine(cal.record) : undefined));
  await writeFile(join(runDir, "junit.xml"), renderJunit([record]));
  await writeFile(join(runDir, "summary.md"), renderSummary([record], () => "report.html"));
}

/** reports/index.html over every run; for a suite (several experiments at once) its own page too. */
export async function writeIndex(out: string, suite?: { runDirs: string[]; startedAt: number }): Promise<{ index: string; suite?: string; junit?: string; summary?: string }> {
  const all = await listRuns(out);
  const result: { index: string; suite?: string; junit?: string; summary?: string } = { index: join(out, "index.html") };
  let intro = "";
  if (suite && suite.runDirs.length > 1) {
    const names = new Set(suite.runDirs.map((d) => relative(out, d)));
    const mine = all.filter((e) => names.has(e.dir));
    const stamp = new Date(suite.startedAt).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
    const dir = join(out, "suites", stamp);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "index.html"), renderIndex(`faultline suite ${stamp}`, mine, "../../"));
    await writeFile(join(dir, "junit.xml"), renderJunit(mine.map((e) => e.record)));
    await writeFile(join(dir, "summary.md"), renderSummary(mine.map((e) => e.record), (r) => `../../${mine.find((e) => e.record.runId === r.runId)?.dir}/report.html`));
    Object.assign(result, { suite: join(dir, "index.html"), junit: join(dir, "junit.xml"), summary: join(dir, "summary.md") });
    intro = `<p>Latest suite: <a href="suites/${stamp}/index.html">${stamp}</a> (${mine.length} experiments)</p>`;
  }
  const repeats = (await listRepeats(out)).slice(0, 20);
  if (repeats.length > 0) {
    const items = repeats.map(({ dir, record: r }) => `<li><a href="${escapeHtml(dir)}/report.html">${escapeHtml(r.experiment)} × ${r.runs.length}</a> ${r.kind === "calibration" ? "calibration (no faults)" : "repeated"} on ${escapeHtml(r.target)}: ${escapeHtml(countsText(r.verdicts))}</li>`);
    intro += `<h2>Repeated runs and calibrations</h2><ul>${items.join("")}</ul>`;
  }
  await writeFile(result.index, renderIndex("faultline runs", all, "", intro));
  return result;
}

/** The repeat or calibration records under `out`, newest first. */
export async function listRepeats(out: string): Promise<{ dir: string; record: RepeatRecord }[]> {
  let names: string[] = [];
  try {
    names = await readdir(out);
  } catch {
    return [];
  }
  const found: { dir: string; record: RepeatRecord }[] = [];
  for (const name of names.filter((n) => n.includes("-repeat-") || n.includes("-calibration-"))) {
    try {
      found.push({ dir: name, record: await readRepeatRecord(join(out, name, REPEATS_FILE)) });
    } catch {
      // not one, or damaged: a run report is not the place to fail over it
    }
  }
  return found.sort((a, b) => b.record.startedAt - a.record.startedAt);
}

export async function lastCalibration(out: string, experiment: string, target: string): Promise<{ dir: string; record: RepeatRecord } | undefined> {
  return (await listRepeats(out)).find((r) => r.record.kind === "calibration" && r.record.experiment === experiment && r.record.target === target);
}

/** "false alarms 0 of 20 on local, 2026-11-30": failed quiet checks and aborts, over the runs. */
export function calibrationLine(c: RepeatRecord): string {
  const alarms = c.verdicts.fail + c.verdicts.aborted;
  const unsure = c.verdicts.inconclusive;
  return `last calibration: false alarms ${alarms} of ${c.runs.length} on ${c.target}, ${new Date(c.startedAt).toISOString().slice(0, 10)}${unsure ? ` (${unsure} inconclusive)` : ""}`;
}

/** `<out>/<stamp>-repeat-<experiment>/`: repeats.json and report.html; run links go to the sibling run folders. */
export async function writeRepeatReports(out: string, record: RepeatRecord): Promise<string> {
  const stamp = new Date(record.startedAt).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const dir = join(out, `${stamp}-${record.kind}-${record.experiment}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, REPEATS_FILE), `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(join(dir, "report.html"), renderRepeats(record, (runDir) => `../${basename(runDir)}/report.html`));
  return dir;
}

export { countsText, renderJunit, renderSummary };
