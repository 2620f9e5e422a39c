import type { Assertion, Experiment } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { compare, parseThreshold } from "../schema/threshold.ts";
import type { ParsedThreshold } from "../schema/threshold.ts";
import { freezeDoubt, guarded, instrumentDoubt } from "./instrument.ts";
import type { Dependence } from "./instrument.ts";
import { judgeAlert, judgeNoUnexpectedAlerts } from "./alert.ts";
import { bucketsIn, failuresOf, generatorSilent, pct, stats, windowOf } from "./context.ts";
import type { Window } from "./context.ts";
import { judgeAmplification, judgeGoodput, judgeNoCascade } from "./cascade.ts";
import { judgeFailover } from "./failover.ts";
import { judgeCapacity, judgeRescheduled } from "./kubernetes.ts";
import { judgeProbeAssertion, judgeSteadyState } from "./probes.ts";
import { judgePromotion, judgeRollback, judgeTrafficSplit } from "./rollback.ts";
import { judgeSlo, judgeThreshold, measureThreshold } from "./slo.ts";
import { judgeReplicationLag, judgeRpo, judgeRto } from "./sessions.ts";

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
  amplification: judgeAmplification,
  goodput: judgeGoodput,
  "no-cascade": judgeNoCascade,
  rpo: judgeRpo,
  rto: judgeRto,
  "replication-lag": judgeReplicationLag,
};

/**
 * What each assertion reads from the load series: the tail of the latency it judges, or outcomes
 * only; undefined for a check no instrument fault can decide.
 */
function dependence(a: Assertion): Dependence | undefined {
  switch (a.kind) {
    // an acknowledged turn missing from the store is lost whatever the host's load: a starved
    // generator can send late, never invent an acknowledgement or take a write out of the store
    case "rpo":
      return undefined;
    case "slo": {
      const qs = [a.ttftP99 !== undefined || a.p99 !== undefined ? 0.99 : 0, a.p95 !== undefined ? 0.95 : 0, a.p50 !== undefined ? 0.5 : 0].filter((q) => q > 0);
      return qs.length ? { latency: Math.max(...qs) } : "outcomes";
    }
    case "threshold": {
      const t = parseThreshold(a.threshold);
      return typeof t === "string" ? "outcomes" : thresholdDependence(t);
    }
    case "failover":
      return { latency: 0.99 };
    case "rollback":
      return { latency: 0.95 };
    default:
      return "outcomes";
  }
}

/** A threshold's dependence: a failure rate reads outcomes; a latency aggregate reads its tail (the max, all of it). */
function thresholdDependence(t: ParsedThreshold): Dependence {
  if (t.metric === "http_req_failed") return "outcomes";
  if (t.agg.kind === "p") return { latency: t.agg.q / 100 };
  return { latency: t.agg.kind === "max" || t.agg.kind === "avg" ? 0.999 : 0.5 };
}

/**
 * Steady state: probes within their failure budget and every threshold on the load series. When a
 * threshold fails where the instrument could have made it fail, or has too few samples to read,
 * `inconclusive` says why: the run must not be aborted, nor the system blamed, for the generator.
 */
export function steadyStateHolds(exp: Experiment, record: RunRecord, w: Window): { holds: boolean; inconclusive?: string; messages: string[]; evidence: unknown[]; measured: number | null } {
  const messages: string[] = [];
  const evidence: unknown[] = [];
  const doubts: string[] = [];
  let holds = true;
  let probesHeld = true;
  let thresholdFailures = 0;
  let measured: number | null = null;
  // a frozen host holds no steady state and breaks none: nothing here ran, and the series may be shifted
  const frozen = freezeDoubt(record, w);
  if (frozen !== undefined) return { holds: false, inconclusive: frozen, messages: [frozen], evidence: [{ instrument: frozen }], measured: null };
  if (exp.steadyState.probes.length > 0) {
    const s = judgeSteadyState(record.series.probes, w, exp.steadyState.maxFailureRate);
    holds &&= s.holds;
    probesHeld = s.holds;
    messages.push(...s.messages);
    evidence.push(...s.evidence);
    measured = s.measured;
  }
  for (const source of exp.steadyState.thresholds) {
    const t = parseThreshold(source);
    if (typeof t === "string") {
      holds = false;
      thresholdFailures++;
      messages.push(t);
      continue;
    }
    const m = record.series.load ? measureThreshold(t, record.series.load, w) : null;
    if (m === null) {
      holds = false;
      thresholdFailures++;
      // requests sent that no answer completed by the window's end (a stack answering in seconds): say so, not "no data"
      const sent = record.series.load ? stats(bucketsIn(record.series.load, w)).sent : 0;
      messages.push(sent > 0 ? `${source}: none of the ${sent} requests sent in the window was answered within it` : `${source}: no data`);
      // sent and never answered is the system's, unless the instrument could not tell (CI, 2026-12-03: other
      // work took 0.5–0.9 of 2 cores through a baseline whose 1,000 req/s all timed out, and the run aborted)
      const doubt = (record.series.load ? generatorSilent(record.series.load, w) : undefined) ?? instrumentDoubt(record, w, thresholdDependence(t), true);
      if (doubt !== undefined) doubts.push(doubt);
    } else if (typeof m === "string") {
      holds = false;
      thresholdFailures++;
      messages.push(`${source}: ${m}`);
      doubts.push(`${source}: ${m}`);
    } else if (!compare(m, t.op, t.value)) {
      holds = false;
      thresholdFailures++;
      const what = t.metric === "http_req_failed" && record.series.load ? ` (${failuresOf(stats(bucketsIn(record.series.load, w)).outcomes)})` : "";
      messages.push(`${source}: measured ${t.metric === "http_req_failed" ? pct(m) : `${m.toFixed(1)}ms`}${what}`);
      const doubt = instrumentDoubt(record, w, thresholdDependence(t), true);
      if (doubt !== undefined) doubts.push(doubt);
    }
  }
  // a probe that failed is the system's; only when every failed threshold has a doubt is the whole inconclusive
  const inconclusive = !holds && probesHeld && doubts.length > 0 && doubts.length === thresholdFailures ? [...new Set(doubts)].join("; ") : undefined;
  return { holds, ...(inconclusive ? { inconclusive } : {}), messages, evidence, measured };
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
      verdict: s.holds ? "pass" : s.inconclusive !== undefined ? "inconclusive" : "fail",
      measured: s.measured,
      limit: exp.steadyState.maxFailureRate,
      window: w,
      message: s.holds ? "steady state holds again after recovery" : s.inconclusive !== undefined ? `inconclusive: ${s.inconclusive}` : s.messages.join("; "),
      evidence: s.evidence.slice(0, 20),
    });
  }
  for (const a of exp.assertions) {
    const judge = JUDGES[a.kind] as Judge;
    try {
      results.push(guarded(judge(a, record), record, dependence(a)));
    } catch (err) {
      results.push({ name: a.name, kind: a.kind, verdict: "fail", measured: null, limit: null, window: windowOf(record, "run"), message: `could not judge: ${err instanceof Error ? err.message : String(err)}`, evidence: [] });
    }
  }
  return results;
}
