import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { readRunRecord } from "../loader/run-record.ts";
import type { RunRecord } from "../schema/run-record.ts";
import { escapeHtml } from "./html.ts";
import { headline } from "./markdown.ts";

export interface RunEntry {
  dir: string;
  record: RunRecord;
}

/** Every run folder under `out` that holds a run.json, newest first. */
export async function listRuns(out: string): Promise<RunEntry[]> {
  const out_: RunEntry[] = [];
  let names: string[] = [];
  try {
    names = await readdir(out);
  } catch {
    return [];
  }
  for (const name of names) {
    try {
      out_.push({ dir: name, record: await readRunRecord(join(out, name, "run.json")) });
    } catch {
      // not a run folder (or one still being written)
    }
  }
  return out_.sort((a, b) => b.record.startedAt - a.record.startedAt);
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#1d1d1f}main{max-width:1100px;margin:auto}table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eee}th{background:#f6f6f8}.v{font-weight:700;text-transform:uppercase;font-size:12px;padding:2px 8px;border-radius:4px;color:#fff}.pass{background:#1e7b34}.fail{background:#b3261e}.inconclusive{background:#5b6b7b}.aborted{background:#8a5a00}.error{background:#6b2c91}.muted{color:#666;font-size:12px}h1{font-size:22px}.summary{display:flex;gap:12px;margin:12px 0}.summary div{padding:10px 16px;border-radius:6px;background:#f6f6f8}`;

function row(e: RunEntry, prefix: string): string {
  const r = e.record;
  const d = ((r.endedAt ?? r.startedAt) - r.startedAt) / 1000;
  return `<tr data-verdict="${escapeHtml(r.verdict ?? "")}"><td><span class="v ${escapeHtml(r.verdict ?? "")}">${escapeHtml(r.verdict ?? "?")}</span></td><td><a href="${escapeHtml(prefix + e.dir)}/report.html">${escapeHtml(r.experiment.name)}</a><div class="muted">${escapeHtml(r.runId)}</div></td><td>${escapeHtml(headline(r))}</td><td>${new Date(r.startedAt).toISOString().replace("T", " ").slice(0, 19)}</td><td>${d.toFixed(0)} s</td><td><a href="${escapeHtml(prefix + e.dir)}/run.json">run.json</a> · <a href="${escapeHtml(prefix + e.dir)}/junit.xml">junit</a></td></tr>`;
}

export function renderIndex(title: string, entries: readonly RunEntry[], prefix = "", intro = ""): string {
  const count = (v: string): number => entries.filter((e) => e.record.verdict === v).length;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>
<h1>${escapeHtml(title)}</h1>${intro}
<div class="summary"><div>${entries.length} runs</div><div>${count("pass")} pass</div><div>${count("fail")} fail</div><div>${count("inconclusive")} inconclusive</div><div>${count("aborted")} aborted</div><div>${count("error")} error</div></div>
<table id="runs"><thead><tr><th>verdict</th><th>experiment</th><th>headline</th><th>started (UTC)</th><th>duration</th><th></th></tr></thead><tbody>
${entries.map((e) => row(e, prefix)).join("\n")}
</tbody></table></main></body></html>
`;
}
