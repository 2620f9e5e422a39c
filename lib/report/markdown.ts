import type { AssertionResult, RunRecord } from "../schema/run-record.ts";

const ICON: Record<string, string> = { pass: "✅", fail: "❌", inconclusive: "❔", aborted: "⛔", error: "⚠️" };

function value(v: number | null, unit?: string): string {
  if (v === null) return "—";
  if (unit === "ms") return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`;
  if (unit === "ratio" || unit === "share" || unit === "failure ratio") return `${(v * 100).toFixed(2)} %`;
  if (unit === "s") return `${v.toFixed(1)} s`;
  return String(v);
}

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** How long a headline taken from a message may be; the report has the rest. */
const HEADLINE_CHARS = 100;
const short = (said: string): string => {
  const line = said.replace(/\s+/g, " ");
  return line.length > HEADLINE_CHARS ? `${line.slice(0, HEADLINE_CHARS - 1)}…` : line;
};

/**
 * The headline figure of a run. A run that failed or could not tell leads with the check that decided
 * it (the steady state included: a FAIL headed by a figure that passed reads as a pass), one that
 * aborted or broke with why it stopped. Otherwise the failover time, else the experiment's own
 * assertions (not the implicit steady state) — a failed one first (a record not yet given its
 * verdict), then one with a time, then any with a measurement.
 */
export function headline(r: RunRecord): string {
  const decided = r.verdict === "fail" || r.verdict === "inconclusive" ? r.assertions.find((a) => a.verdict === r.verdict) : undefined;
  if (decided) {
    if (decided.measured !== null && decided.unit !== undefined) return `${decided.name} ${value(decided.measured, decided.unit)}${decided.verdict === "inconclusive" ? " (inconclusive)" : ""}`;
    return short(`${decided.name}: ${decided.message}`);
  }
  // an aborted or broken run: why it stopped
  if ((r.verdict === "aborted" || r.verdict === "error") && r.reason) return short(r.reason);
  const failover = r.assertions.find((a) => a.kind === "failover" && a.measured !== null);
  if (failover) return `failover ${value(failover.measured, "ms")}`;
  const own = r.assertions.filter((a) => a.kind !== "steady-state");
  const a: AssertionResult | undefined =
    own.find((x) => x.verdict === "fail") ?? own.find((x) => x.measured !== null && (x.unit === "ms" || x.unit === "s")) ?? own.find((x) => x.measured !== null) ?? own[0];
  return a ? `${a.name} ${value(a.measured, a.unit)}` : (r.reason ?? "");
}

/** summary.md: for pull-request comments and $GITHUB_STEP_SUMMARY. */
export function renderSummary(records: readonly RunRecord[], links: (r: RunRecord) => string = () => ""): string {
  const lines = ["## faultline", "", "| | experiment | verdict | headline | duration | report |", "|---|---|---|---|---|---|"];
  for (const r of records) {
    const d = ((r.endedAt ?? r.startedAt) - r.startedAt) / 1000;
    lines.push(`| ${ICON[r.verdict ?? ""] ?? ""} | ${cell(r.experiment.name)} | ${r.verdict ?? ""} | ${cell(headline(r))} | ${d.toFixed(0)} s | ${links(r)} |`);
  }
  for (const r of records) {
    const failed = r.assertions.filter((a) => a.verdict === "fail");
    if (failed.length === 0 && !r.reason) continue;
    lines.push("", `### ${ICON[r.verdict ?? ""] ?? ""} ${r.experiment.name}`);
    if (r.reason && r.verdict !== "fail") lines.push("", `> ${cell(r.reason)}`);
    if (failed.length) {
      lines.push("", "| assertion | measured | limit | evidence |", "|---|---|---|---|");
      for (const a of failed) lines.push(`| ${cell(a.name)} | ${value(a.measured, a.unit)} | ${value(a.limit, a.unit)} | ${cell(a.message)} |`);
    }
  }
  return `${lines.join("\n")}\n`;
}
