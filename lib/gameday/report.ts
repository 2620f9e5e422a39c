import { relative } from "node:path";
import { escapeHtml as esc } from "../report/html.ts";
import { headline } from "../report/markdown.ts";
import type { GameDayResult, StepResult } from "./types.ts";

const MARK: Record<StepResult["outcome"], string> = { pass: "✅", fail: "❌", inconclusive: "❔", aborted: "⏹", error: "⚠️", declined: "🚫", skipped: "⏭" };
const time = (t: number): string => new Date(t).toISOString().slice(11, 19);

function expected(s: StepResult): { name: string; fired: boolean }[] {
  return s.step.expectAlerts.map((name) => ({ name, fired: s.alertsFired.includes(name) }));
}

/** The game day write-up's attachment: every step, its verdict, notes and alerts, in one Markdown file. */
export function renderGameDayMarkdown(g: GameDayResult): string {
  const lines = [
    `# Game day: ${g.plan.title}`,
    "",
    `${new Date(g.startedAt).toISOString().slice(0, 16).replace("T", " ")} UTC · ${((g.endedAt - g.startedAt) / 60_000).toFixed(1)} min · owners ${g.plan.owners.join(", ")}${g.plan.runbook ? ` · [runbook](${g.plan.runbook})` : ""}`,
    "",
    "| | step | owner | outcome | headline | expected alerts |",
    "|---|---|---|---|---|---|",
    ...g.steps.map((s) => `| ${MARK[s.outcome]} | ${s.index + 1}. ${s.step.title} | ${s.step.owner ?? ""} | ${s.outcome} | ${s.record && s.outcome !== "declined" ? headline(s.record) : (s.reason ?? "")} | ${expected(s).map((e) => `${e.fired ? "✓" : "✗"} ${e.name}`).join(", ")} |`),
  ];
  if (g.halted !== undefined) lines.push("", `The plan halted after step ${g.halted + 1}.`);
  for (const s of g.steps) {
    lines.push("", `## ${s.index + 1}. ${s.step.title}`, "", `Hypothesis: ${s.step.hypothesis}`, "", `Outcome: **${s.outcome}**${s.reason && s.outcome !== "pass" ? ` — ${s.reason}` : ""}`);
    if (s.runDir) lines.push("", `Report: ${relative(g.dir, s.runDir)}/report.html`);
    if (s.notes.length) lines.push("", "Notes:", ...s.notes.map((n) => `- ${time(n.t)} ${n.text}`));
  }
  return `${lines.join("\n")}\n`;
}

/** The same as one self-contained HTML page (nothing fetched; opens from file://). */
export function renderGameDayHtml(g: GameDayResult): string {
  const steps = g.steps
    .map((s) => {
      const alerts = expected(s)
        .map((e) => `<span class="${e.fired ? "ok" : "bad"}">${e.fired ? "✓" : "✗"} ${esc(e.name)}</span>`)
        .join(" ");
      const notes = s.notes.length ? `<ul class="notes">${s.notes.map((n) => `<li><time>${time(n.t)}</time> ${esc(n.text)}</li>`).join("")}</ul>` : "";
      const link = s.runDir ? `<a href="${esc(relative(g.dir, s.runDir))}/report.html">report</a>` : "";
      const figure = s.record && s.outcome !== "declined" ? esc(headline(s.record)) : esc(s.reason ?? "");
      return `<section class="step ${s.outcome}" id="step-${s.index + 1}">
<h2><span class="badge">${esc(s.outcome.toUpperCase())}</span> ${s.index + 1}. ${esc(s.step.title)}${s.step.owner ? ` <small>${esc(s.step.owner)}</small>` : ""}</h2>
<p class="hyp">${esc(s.step.hypothesis)}</p>
<p>${figure} ${link}${s.step.runbook ? ` · <a href="${esc(s.step.runbook)}">runbook</a>` : ""}</p>
${alerts ? `<p>expected alerts: ${alerts}</p>` : ""}
${notes}
</section>`;
    })
    .join("\n");
  const counts = Object.entries(g.steps.reduce<Record<string, number>>((m, s) => ({ ...m, [s.outcome]: (m[s.outcome] ?? 0) + 1 }), {}))
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Game day: ${esc(g.plan.title)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{margin-bottom:.2rem}.meta{color:#57606a}
.step{border-left:6px solid #8c959f;padding:.2rem 1rem;margin:1.2rem 0;background:#f6f8fa}
.step.pass{border-color:#1a7f37}.step.fail,.step.error{border-color:#cf222e}.step.declined,.step.skipped,.step.aborted{border-color:#9a6700}
.badge{font-size:.75rem;padding:.1rem .4rem;border-radius:.3rem;background:#d0d7de;vertical-align:middle}
.hyp{font-style:italic}.ok{color:#1a7f37}.bad{color:#cf222e}.notes time{color:#57606a;font-family:monospace}
@media print{.step{break-inside:avoid}}
</style></head><body>
<h1>Game day: ${esc(g.plan.title)}</h1>
<p class="meta">${esc(new Date(g.startedAt).toISOString().slice(0, 16).replace("T", " "))} UTC · ${((g.endedAt - g.startedAt) / 60_000).toFixed(1)} min · owners ${esc(g.plan.owners.join(", "))} · ${esc(counts)}${g.plan.runbook ? ` · <a href="${esc(g.plan.runbook)}">runbook</a>` : ""}</p>
${g.halted !== undefined ? `<p class="bad">The plan halted after step ${g.halted + 1}.</p>` : ""}
${steps}
</body></html>
`;
}
