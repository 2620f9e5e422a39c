import { hostname } from "node:os";
import type { RunRecord } from "../schema/run-record.ts";

// XML 1.0 forbids most control characters, even escaped: they are dropped.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] as string).replace(CONTROL, "");
}

const stamp = (t: number): string => new Date(t).toISOString().slice(0, 19);

function show(v: number | null, unit?: string): string {
  if (v === null) return "n/a";
  if (unit === "ms") return `${Math.round(v)}ms`;
  if (unit === "ratio" || unit === "share") return `${(v * 100).toFixed(2)}%`;
  return `${v}${unit && unit !== "ratio" ? ` ${unit}` : ""}`;
}

/**
 * One <testsuite> per experiment run, one <testcase> per assertion; a failed assertion carries
 * its measured value and limit. An aborted or errored run is one <error> testcase, so CI does not
 * read "no failures" as a pass. Shaped to the Ant/Jenkins JUnit schema that GitLab, Jenkins and the
 * GitHub test-report actions read.
 */
function suite(r: RunRecord, id: number): string {
  const time = (((r.endedAt ?? r.startedAt) - r.startedAt) / 1000).toFixed(3);
  const cls = `faultline.${r.experiment.name}`;
  const cases: string[] = r.assertions.map((a) => {
    const t = ((a.window.end - a.window.start) / 1000).toFixed(3);
    // inconclusive: the instrument could not tell; JUnit has no word for it, and "error" (could not
    // be carried out) is nearer than a failure of the system or a pass
    const body =
      a.verdict === "fail"
        ? `\n      <failure message="${xml(`${a.name}: measured ${show(a.measured, a.unit)}, limit ${show(a.limit, a.unit)}`)}" type="${xml(a.kind)}">${xml(a.message)}</failure>\n    `
        : a.verdict === "inconclusive"
          ? `\n      <error message="${xml(`${a.name}: inconclusive`)}" type="inconclusive">${xml(a.message)}</error>\n    `
          : "";
    return `    <testcase name="${xml(a.name)}" classname="${xml(cls)}" time="${t}">${body}</testcase>`;
  });
  let errors = r.assertions.filter((a) => a.verdict === "inconclusive").length;
  if (r.verdict === "aborted" || r.verdict === "error" || (r.verdict === "inconclusive" && errors === 0)) {
    errors++;
    cases.unshift(`    <testcase name="run" classname="${xml(cls)}" time="${time}">\n      <error message="${xml(`run ${r.verdict}`)}" type="${r.verdict}">${xml(r.reason ?? "")}</error>\n    </testcase>`);
  }
  const failures = r.assertions.filter((a) => a.verdict === "fail").length;
  return `  <testsuite package="faultline" id="${id}" name="${xml(r.experiment.name)}" timestamp="${stamp(r.startedAt)}" hostname="${xml(hostname())}" tests="${cases.length}" failures="${failures}" errors="${errors}" time="${time}">
    <properties>
      <property name="runId" value="${xml(r.runId)}"/>
      <property name="verdict" value="${xml(r.verdict ?? "")}"/>
      <property name="target" value="${xml(r.target.name)}"/>
    </properties>
${cases.join("\n")}
    <system-out>${xml(r.timeline.map((e) => `+${((e.t - r.startedAt) / 1000).toFixed(1)}s ${e.type} ${e.message}`).join("\n"))}</system-out>
    <system-err></system-err>
  </testsuite>`;
}

export function renderJunit(records: readonly RunRecord[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${records.map((r, i) => suite(r, i)).join("\n")}\n</testsuites>\n`;
}
