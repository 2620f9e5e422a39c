import type { z } from "zod";
import type { ReplicationLagAssertion, RpoAssertion, RtoAssertion } from "../schema/assertions.ts";
import type { AssertionResult, RunRecord, SessionAudit } from "../schema/run-record.ts";
import type { SessionAcks } from "../schema/series.ts";
import { faultOf, missing, runEnd, windowOf } from "./context.ts";

const LOST_KEPT = 100;

/**
 * The session audit: every turn a client was told was kept, looked up in what the store holds now
 * (after the run, its primary as the Sentinels name it). A turn acknowledged and absent is lost,
 * counted from what clients were told, not from what the store says about itself.
 *
 * The loss's span (the RPO suffered) runs from the recovery point — the newest acknowledged write
 * kept before the first lost one, where the surviving history stops being whole — to the newest
 * lost write. With nothing lost it is 0.
 */
export function auditSessions(acks: SessionAcks, stored: Readonly<Record<string, readonly string[]>>, now: number): SessionAudit {
  const lost: { session: string; turn: number; t: number }[] = [];
  const keptTimes: number[] = [];
  let acknowledged = 0;
  for (const [session, turns] of Object.entries(acks.acked)) {
    const have = new Set(stored[session] ?? []);
    for (const [turn, t] of turns) {
      acknowledged++;
      if (have.has(String(turn))) keptTimes.push(t);
      else lost.push({ session, turn, t });
    }
  }
  lost.sort((a, b) => a.t - b.t);
  const first = lost[0];
  const newest = lost.at(-1);
  let recoveryPoint: number | undefined;
  if (first !== undefined) for (const t of keptTimes) if (t < first.t && (recoveryPoint === undefined || t > recoveryPoint)) recoveryPoint = t;
  const from = recoveryPoint ?? first?.t;
  return {
    checkedAt: now,
    sessions: Object.keys(acks.acked).length,
    acknowledged,
    lost: lost.length,
    lostTurns: lost.slice(0, LOST_KEPT),
    ...(recoveryPoint !== undefined ? { recoveryPoint } : {}),
    ...(newest !== undefined ? { newestLost: newest.t } : {}),
    rpoMs: newest !== undefined && from !== undefined ? newest.t - from : 0,
  };
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

export function judgeRpo(a: z.infer<typeof RpoAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, "run");
  const s = record.sessions;
  if (s === undefined) return missing(base, w, "no session audit (the load had no template with `sessions`, or the run ended before it)");
  if (s.error !== undefined || s.rpoMs === null) return missing(base, w, `the session store could not be read after the run (${s.error ?? "unknown"})`);
  if (s.acknowledged === 0) return missing(base, w, `no turn was acknowledged to a client in ${s.sessions} session(s)`);
  const tooMany = a.maxLost !== undefined && s.lost > a.maxLost;
  const tooLong = s.rpoMs > a.within;
  const span = s.lost === 0 ? "none lost" : `${s.lost} lost, spanning ${secs(s.rpoMs)} (from the newest write kept before the first loss${s.recoveryPoint !== undefined ? `, +${secs(s.recoveryPoint - record.startedAt)}` : ""}, to the newest lost, +${secs((s.newestLost ?? 0) - record.startedAt)})`;
  return {
    ...base,
    verdict: tooMany || tooLong ? "fail" : "pass",
    measured: s.rpoMs,
    limit: a.within,
    unit: "ms",
    window: w,
    message: `${s.acknowledged} turns acknowledged in ${s.sessions} conversations, ${span}; limit ${secs(a.within)}${a.maxLost !== undefined ? ` and ${a.maxLost} lost` : ""}`,
    evidence: s.lostTurns.slice(0, 20).map((l) => ({ ...l, at: `+${secs(l.t - record.startedAt)}` })),
  };
}

/**
 * RTO as clients see it: from the fault taking effect to the end of the last second in which fewer
 * than `minSuccess` of the turns sent were acknowledged — counted only while the fault holds, so
 * writes that come back with the heal are no recovery (the system did not recover; the fault ended).
 */
export function judgeRto(a: z.infer<typeof RtoAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const fault = faultOf(record, a.fault);
  const t0 = fault?.injectedAt;
  const end = fault?.revertedAt ?? runEnd(record);
  const series = record.series.load;
  if (t0 === undefined) return missing(base, { start: record.startedAt, end }, `fault ${a.fault} never took effect`);
  if (series === undefined || !series.buckets.some((b) => b.sessions !== undefined)) return missing(base, { start: t0, end }, "no conversation turns in the load (a template with `sessions`)");
  const seconds: { t: number; writes: number; acked: number }[] = [];
  for (const b of series.buckets) {
    if (b.t < t0 || b.t >= end || b.sessions === undefined) continue;
    const i = Math.floor((b.t - t0) / 1000);
    const s = (seconds[i] ??= { t: t0 + i * 1000, writes: 0, acked: 0 });
    s.writes += b.sessions.writes;
    s.acked += b.sessions.acked;
  }
  const judged = seconds.filter((s) => s !== undefined && s.writes > 0);
  const bad = judged.filter((s) => s.acked / s.writes < a.minSuccess);
  const last = bad.at(-1);
  const evidence = judged.slice(0, 120).map((s) => ({ at: `+${secs(s.t - t0)}`, writes: s.writes, acked: s.acked }));
  const w = { start: t0, end };
  if (judged.length === 0) return missing(base, w, `no turn was sent while ${a.fault} held`);
  // the writes rejected while no primary could take them (or no replica confirm them in time)
  const sent = judged.reduce((n, s) => n + s.writes, 0);
  const refused = `; while it held ${sent - judged.reduce((n, s) => n + s.acked, 0)} of ${sent} turns were refused (not acknowledged)`;
  // still failing in the fault's last judged second: writes never came back while it held
  if (last !== undefined && last === judged.at(-1)) {
    const held = end - t0;
    const verdict = a.within > held ? "inconclusive" : "fail";
    return { ...base, verdict, measured: null, limit: a.within, unit: "ms", window: w, message: `session writes did not succeed again while ${a.fault} held (${secs(held)}): ${verdict === "fail" ? `RTO over ${secs(a.within)}` : `the fault ended before the limit of ${secs(a.within)}, so whether it would have been met is unknown`}; in its last second ${last.acked} of ${last.writes} turns were acknowledged${refused}`, evidence };
  }
  const rto = last === undefined ? 0 : last.t + 1000 - t0;
  return {
    ...base,
    verdict: rto <= a.within ? "pass" : "fail",
    measured: rto,
    limit: a.within,
    unit: "ms",
    window: w,
    message: last === undefined ? `session writes never fell below ${(a.minSuccess * 100).toFixed(0)}% acknowledged while ${a.fault} held: RTO 0s${refused}` : `session writes succeeded again ${secs(rto)} after ${a.fault} took effect (limit ${secs(a.within)}): the last second below ${(a.minSuccess * 100).toFixed(0)}% acknowledged began at +${secs(last.t - t0)} (${last.acked} of ${last.writes})${refused}`,
    evidence,
  };
}

export function judgeReplicationLag(a: z.infer<typeof ReplicationLagAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  const samples = (record.series.stack ?? []).filter((s) => s.t >= w.start && s.t <= w.end && s.replicationLagSeconds !== undefined);
  if (samples.length === 0) return missing(base, w, "no replication lag in the stack lane (a stack with session.enabled, its Prometheus read after the run)");
  let worst = samples[0] as (typeof samples)[number];
  for (const s of samples) if ((s.replicationLagSeconds ?? 0) > (worst.replicationLagSeconds ?? 0)) worst = s;
  const ms = Math.round((worst.replicationLagSeconds ?? 0) * 1000);
  const pass = a.atLeast ? ms >= a.max : ms <= a.max;
  return {
    ...base,
    verdict: pass ? "pass" : "fail",
    measured: ms,
    limit: a.max,
    unit: "ms",
    window: w,
    message: `the worst replica lag during ${a.during} was ${secs(ms)} at +${secs(worst.t - record.startedAt)} (${a.atLeast ? "must reach" : "limit"} ${secs(a.max)})`,
    evidence: samples.filter((_, i) => i % 2 === 0).slice(0, 60).map((s) => ({ t: s.t, lagSeconds: s.replicationLagSeconds })),
  };
}
