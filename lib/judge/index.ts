import type { Assertion, Experiment } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { compare, parseThreshold } from "../schema/threshold.ts";
import { judgeAlert, judgeNoUnexpectedAlerts } from "./alert.ts";
import { pct, windowOf } from "./context.ts";
import type { Window } from "./context.ts";
import { judgeFailover } from "./failover.ts";
import { judgeCapacity, judgeRescheduled } from "./kubernetes.ts";
import { judgeProbeAssertion, judgeSteadyState } from "./probes.ts";
import { judgePromotion, judgeRollback, judgeTrafficSplit } from "./rollback.ts";
import { judgeSlo, judgeThreshold, measureThreshold } from "./slo.ts";

type Judge<A extends Assertion = Assertion> = (a: A, record: RunRecord) => AssertionResult;

/** Judges by assertion kind: every one a pure function of the recorded run. */
const JUDGES: { [K in Assertion["kind"]]: Judge<Extract<Assertion, { kind: K }>> } = {
  probe: (a, r) => judgeProbeAssertion(a, r.series.probes[a.probe], windowOf(r, a.during)),
  failover: judgeFailover,
  alert: judgeAlert,
  "no-unexpected-alerts": judgeNoUnexpectedAlerts,
  rollback: judgeRollback,
  promotion: judgePromotion,
  "traffic-split": judgeTrafficSplit,
  slo: judgeSlo,
  threshold: judgeThreshold,
  rescheduled: judgeRescheduled,
  capacity: judgeCapacity,
};

/** Steady state: probes within their failure budget and every threshold on the load series. */
export function steadyStateHolds(exp: Experiment, record: RunRecord, w: Window): { holds: boolean; messages: string[]; evidence: unknown[]; measured: number | null } {
  const messages: string[] = [];
  const evidence: unknown[] = [];
  let holds = true;
  let measured: number | null = null;
  if (exp.steadyState.probes.length > 0) {
    const s = judgeSteadyState(record.series.probes, w, exp.steadyState.maxFailureRate);
    holds &&= s.holds;
    messages.push(...s.messages);
    evidence.push(...s.evidence);
    measured = s.measured;
  }
  for (const source of exp.steadyState.thresholds) {
    const t = parseThreshold(source);
    if (typeof t === "string") {
      holds = false;
      messages.push(t);
      continue;
    }
    const m = record.series.load ? measureThreshold(t, record.series.load, w) : null;
    if (m === null) {
      holds = false;
      messages.push(`${source}: no data`);
    } else if (!compare(m, t.op, t.value)) {
      holds = false;
      messages.push(`${source}: measured ${t.metric === "http_req_failed" ? pct(m) : `${m.toFixed(1)}ms`}`);
    }
  }
  return { holds, messages, evidence, measured };
}

export function hasSteadyState(exp: Experiment): boolean {
  return exp.steadyState.probes.length > 0 || exp.steadyState.thresholds.length > 0;
}

/** Every verdict from the recorded run alone (also `faultline judge run.json`). */
export function judgeAll(exp: Experiment, record: RunRecord): AssertionResult[] {
  const results: AssertionResult[] = [];
  if (hasSteadyState(exp)) {
    // The hypothesis must hold again once the system had the recovery phase to heal: its second half.
    const rec = windowOf(record, "recovery");
    const w = { start: rec.start + (rec.end - rec.start) / 2, end: rec.end };
    const s = steadyStateHolds(exp, record, w);
    results.push({
      name: "steady-state-after-recovery",
      kind: "steady-state",
      verdict: s.holds ? "pass" : "fail",
      measured: s.measured,
      limit: exp.steadyState.maxFailureRate,
      window: w,
      message: s.holds ? "steady state holds again after recovery" : s.messages.join("; "),
      evidence: s.evidence.slice(0, 20),
    });
  }
  for (const a of exp.assertions) {
    const judge = JUDGES[a.kind] as Judge;
    try {
      results.push(judge(a, record));
    } catch (err) {
      results.push({ name: a.name, kind: a.kind, verdict: "fail", measured: null, limit: null, window: windowOf(record, "run"), message: `could not judge: ${err instanceof Error ? err.message : String(err)}`, evidence: [] });
    }
  }
  return results;
}
