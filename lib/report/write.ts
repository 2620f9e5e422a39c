import { mkdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { RunRecord } from "../schema/run-record.ts";
import { renderRunHtml } from "./html.ts";
import { listRuns, renderIndex } from "./index-page.ts";
import { renderJunit } from "./junit.ts";
import { renderSummary } from "./markdown.ts";

/** report.html, junit.xml and summary.md beside a run's run.json. */
export async function writeRunReports(runDir: string, record: RunRecord): Promise<void> {
  await writeFile(join(runDir, "report.html"), renderRunHtml(record));
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
  await writeFile(result.index, renderIndex("faultline runs", all, "", intro));
  return result;
}

export { renderJunit, renderSummary };
