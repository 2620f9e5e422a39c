import type { Counts, RepeatRecord } from "../schema/repeat-record.ts";
import { escapeHtml } from "./html.ts";

const COLOURS: Record<keyof Counts, string> = { pass: "#1e7b34", fail: "#b3261e", inconclusive: "#5b6b7b", aborted: "#8a5a00", error: "#6b2c91" };
const ORDER = ["pass", "fail", "inconclusive", "aborted", "error"] as const;

const fmt = (v: number, unit: string): string => (unit === "ratio" ? `${(v * 100).toFixed(2)} %` : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`);

/** "9 pass · 1 inconclusive": the non-zero counts. */
export function countsText(c: Counts): string {
  return ORDER.filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`).join(" · ") || "none";
}

/** One bar, a segment per verdict, as wide as its share of the runs. */
function bar(c: Counts): string {
  const total = ORDER.reduce((s, k) => s + c[k], 0) || 1;
  let x = 0;
  const parts = ORDER.filter((k) => c[k] > 0).map((k) => {
    const w = (c[k] / total) * 200;
    const seg = `<rect x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="12" fill="${COLOURS[k]}"><title>${c[k]} ${k}</title></rect>`;
    x += w;
    return seg;
  });
  return `<svg width="200" height="12" role="img" aria-label="${escapeHtml(countsText(c))}">${parts.join("")}</svg>`;
}

/** Every value as a dot on a line from the smallest to the largest, the median as a tick, the interval as a band. */
function strip(m: RepeatRecord["metrics"][number]): string {
  const lo = m.spread.min;
  const hi = m.spread.max;
  const x = (v: number): number => (hi > lo ? 6 + ((v - lo) / (hi - lo)) * 228 : 120);
  const band = `<rect x="${x(m.spread.ci[0]).toFixed(1)}" y="2" width="${Math.max(1, x(m.spread.ci[1]) - x(m.spread.ci[0])).toFixed(1)}" height="16" fill="#dfe7f3"><title>95 % interval of the median</title></rect>`;
  const dots = m.values.map((v) => `<circle cx="${x(v).toFixed(1)}" cy="10" r="3.5" fill="#1f4e8c" fill-opacity="0.6"><title>${escapeHtml(fmt(v, m.unit))}</title></circle>`).join("");
  const median = `<line x1="${x(m.spread.median).toFixed(1)}" x2="${x(m.spread.median).toFixed(1)}" y1="0" y2="20" stroke="#000" stroke-width="2"/>`;
  return `<svg width="240" height="20" role="img" aria-label="${m.values.length} values">${band}${dots}${median}</svg>`;
}

/** repeats.html: the distribution of N runs, not the last value. */
export function renderRepeats(r: RepeatRecord, runLink: (runDir: string) => string): string {
  const title = `${r.experiment} × ${r.runs.length} on ${r.target}${r.kind === "calibration" ? " — calibration (no faults)" : ""}`;
  const checks = r.assertions.map((a) => `<tr><td>${escapeHtml(a.name)}<div class="muted">${escapeHtml(a.kind)}</div></td><td>${bar(a.counts)}</td><td>${escapeHtml(countsText(a.counts))}</td></tr>`).join("\n");
  const metrics = r.metrics
    .map((m) => `<tr><td>${escapeHtml(m.subject)}<div class="muted">${escapeHtml(m.metric)}</div></td><td>${escapeHtml(fmt(m.spread.median, m.unit))}</td><td>${escapeHtml(fmt(m.spread.ci[0], m.unit))} – ${escapeHtml(fmt(m.spread.ci[1], m.unit))}</td><td>${escapeHtml(fmt(m.spread.min, m.unit))} – ${escapeHtml(fmt(m.spread.max, m.unit))}</td><td>${strip(m)}</td></tr>`)
    .join("\n");
  const runs = r.runs.map((x, i) => `<li><span class="v ${escapeHtml(x.verdict)}">${escapeHtml(x.verdict)}</span> <a href="${escapeHtml(runLink(x.runDir))}">run ${i + 1}</a> <span class="muted">${escapeHtml(x.runId)}</span></li>`).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>
<h1>${escapeHtml(title)}</h1>
<p class="muted">${new Date(r.startedAt).toISOString().replace("T", " ").slice(0, 19)} UTC · time-scale ${r.timeScale} · rate-scale ${r.rateScale} · runs: ${escapeHtml(countsText(r.verdicts))}</p>
<h2>Checks</h2><table><thead><tr><th>check</th><th>runs</th><th>counts</th></tr></thead><tbody>
${checks}
</tbody></table>
<h2>Measurements</h2><p class="muted">Median of the runs, its bootstrap 95 % interval, the range, and every run's value (dots; the bar is the median, the band the interval).</p>
<table><thead><tr><th>measurement</th><th>median</th><th>95 % interval</th><th>range</th><th>runs</th></tr></thead><tbody>
${metrics}
</tbody></table>
<h2>Runs</h2><ul>
${runs}
</ul></main></body></html>
`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#1d1d1f}main{max-width:1100px;margin:auto}table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eee;vertical-align:middle}th{background:#f6f6f8}.muted{color:#666;font-size:12px}h1{font-size:22px}h2{font-size:17px;margin-top:28px}ul{list-style:none;padding:0}li{margin:4px 0}.v{font-weight:700;text-transform:uppercase;font-size:11px;padding:2px 6px;border-radius:4px;color:#fff}.pass{background:#1e7b34}.fail{background:#b3261e}.inconclusive{background:#5b6b7b}.aborted{background:#8a5a00}.error{background:#6b2c91}`;
