import type { Counts, RepeatRecord } from "../schema/repeat-record.ts";
import type { RunRecord } from "../schema/run-record.ts";
import { measurementsOf } from "./measurements.ts";
import { spread } from "./stats.ts";

const zero = (): Counts => ({ pass: 0, fail: 0, inconclusive: 0, aborted: 0, error: 0 });
const bump = (c: Counts, v: string | undefined): void => {
  if (v !== undefined && v in c) c[v as keyof Counts]++;
};

/**
 * What N runs of one experiment say together: each run's verdict, per check how often it passed,
 * failed or could not tell, per measurement every value with its median and bootstrap 95 % interval.
 * A check a run never reached (it aborted or failed before judging) is counted under that run's verdict.
 */
export function summarizeRepeats(kind: RepeatRecord["kind"], runs: readonly { runDir: string; record: RunRecord }[], o: { target: string; timeScale: number; rateScale: number }): RepeatRecord {
  const first = runs[0]?.record;
  if (first === undefined) throw new Error("no runs to summarise");
  const verdicts = zero();
  const checks = new Map<string, { name: string; kind: string; counts: Counts }>();
  const values = new Map<string, { metric: string; subject: string; unit: string; values: number[] }>();
  for (const { record: r } of runs) {
    bump(verdicts, r.verdict);
    for (const a of r.assertions) {
      const c = checks.get(a.name) ?? { name: a.name, kind: a.kind, counts: zero() };
      bump(c.counts, a.verdict);
      checks.set(a.name, c);
    }
    for (const m of measurementsOf(r)) {
      const key = `${m.metric} ${m.subject}`;
      const v = values.get(key) ?? { metric: m.metric, subject: m.subject, unit: m.unit, values: [] };
      v.values.push(m.value);
      values.set(key, v);
    }
  }
  // a run that ended before judging a check still counts for it: under its own verdict
  for (const c of checks.values()) {
    for (const { record: r } of runs) if (!r.assertions.some((a) => a.name === c.name)) bump(c.counts, r.verdict);
  }
  return {
    version: 1,
    kind,
    experiment: first.experiment.name,
    target: o.target,
    startedAt: Math.min(...runs.map((r) => r.record.startedAt)),
    endedAt: Math.max(...runs.map((r) => r.record.endedAt ?? r.record.startedAt)),
    timeScale: o.timeScale,
    rateScale: o.rateScale,
    runs: runs.map(({ runDir, record: r }) => ({ runDir, runId: r.runId, verdict: r.verdict ?? "error", startedAt: r.startedAt })),
    verdicts,
    assertions: [...checks.values()],
    metrics: [...values.values()].map((v) => ({ ...v, spread: spread(v.values) })),
  };
}
