import type { AlertAssertion, NoUnexpectedAlertsAssertion } from "../schema/experiment.ts";
import type { AssertionResult, FaultRecord, RunRecord, TimelineEvent } from "../schema/run-record.ts";
import type { z } from "zod";
import { bucketsIn, events, evidenceRow, faultOf, missing, pct, runEnd, stats, windowOf } from "./context.ts";
import type { Window } from "./context.ts";

function matches(e: TimelineEvent, alert: string, labels: Record<string, string> | undefined, severity?: string): boolean {
  const l = (e.data?.labels ?? {}) as Record<string, string>;
  if (l.alertname !== alert) return false;
  if (severity !== undefined && l.severity !== severity) return false;
  return Object.entries(labels ?? {}).every(([k, v]) => l[k] === v);
}

interface AlertContext {
  a: z.infer<typeof AlertAssertion>;
  base: { name: string; kind: string };
  desc: string;
  fault: FaultRecord | undefined;
  /** when the clock starts, and the window the alert must fire in */
  t0: number;
  w: Window;
  /** the alert's first firing in the window */
  hit: TimelineEvent;
}

/** With `fires: false`: the alert stays quiet through the fault's own window, or the phase. */
function judgeQuiet(a: z.infer<typeof AlertAssertion>, base: AlertContext["base"], desc: string, fault: FaultRecord | undefined, record: RunRecord, run: Window): AssertionResult {
  const quiet = fault?.injectedAt !== undefined ? { start: fault.injectedAt, end: fault.revertedAt ?? run.end } : run;
  // firing at any moment of it: also since before it began
  const bad = firingDuring(record.timeline.filter((e) => matches(e, a.alert, a.labels, a.severity)), quiet, rulesLagMs(record));
  const where = fault ? `fault ${fault.name}` : a.during;
  return {
    ...base,
    verdict: bad.length === 0 ? "pass" : "fail",
    measured: bad.length,
    limit: 0,
    unit: "firings",
    window: quiet,
    message: bad.length === 0 ? `${desc} did not fire during ${where}` : bad[0]!.t < quiet.start ? `${desc} was firing as ${where} began` : `${desc} fired during ${where}, ${((bad[0]!.t - quiet.start) / 1000).toFixed(1)}s in`,
    evidence: bad.slice(0, 10),
  };
}

type Check = (c: AlertContext, record: RunRecord) => { fail: string; evidence?: unknown[]; result?: AssertionResult } | { evidence: unknown };

/** The first firing of `alert` from t0 on. */
function firstFiring(record: RunRecord, alert: string, t0: number): TimelineEvent | undefined {
  return events(record, "alert.firing").find((e) => e.t >= t0 && (e.data?.labels as Record<string, string> | undefined)?.alertname === alert);
}

/** The first one-second window, from t0 up to `until`, in which the clients' error rate passed `limit`; null without a load of the run's own. */
function firstErrors(record: RunRecord, t0: number, until: number, limit: number): { s: number; w: ReturnType<typeof stats> } | null | undefined {
  const load = record.series?.load;
  if (load === undefined) return null;
  for (let s = t0; s + 1000 <= Math.min(until, runEnd(record)); s += 500) {
    const w = stats(bucketsIn(load, { start: s, end: s + 1000 }));
    if (w.errorRate !== null && w.errorRate > limit && w.sent >= 10) return { s, w };
  }
  return undefined;
}

/** The early warning: it must fire before the other alert (`before:`). */
const before: Check = ({ a, hit, t0, desc }, record) => {
  const other = firstFiring(record, a.before as string, t0);
  if (other !== undefined && other.t <= hit.t) return { fail: `${desc} fired ${((hit.t - other.t) / 1000).toFixed(1)}s after ${a.before}: no early warning`, evidence: [hit, other] };
  return { evidence: other ?? `${a.before} never fired` };
};

/** Before the users notice: the first second (from t0) in which the clients' error rate passed `beforeErrors`. */
const beforeErrors: Check = ({ a, hit, t0, desc }, record) => {
  const limit = a.beforeErrors as number;
  const first = firstErrors(record, t0, hit.t, limit);
  if (first === null) return { fail: `${desc} fired, but the run had no load of its own to tell when its clients' errors began` };
  if (first !== undefined) {
    return { fail: `${desc} fired ${((hit.t - t0) / 1000).toFixed(1)}s after the fault, but the clients' error rate was already ${pct(first.w.errorRate)} (> ${pct(limit)}) at +${((first.s - t0) / 1000).toFixed(1)}s: no early warning`, evidence: [hit, evidenceRow(first.s, first.w)] };
  }
  return { evidence: `the clients' error rate stayed at or below ${pct(limit)} in every second until it fired` };
};

/** Delivered: Alertmanager's webhook notification reached the run (through `receiver`, when one is required). */
const delivered: Check = ({ a, t0, w, desc, hit }, record) => {
  const all = events(record, "alert.delivered").filter((e) => e.t >= t0 && e.t <= w.end + 30_000 && matches(e, a.alert, a.labels, a.severity));
  const d = all.find((e) => a.receiver === undefined || e.data?.receiver === a.receiver);
  if (d !== undefined) return { evidence: d };
  if (all.length === 0) return { fail: `${desc} fired after ${((hit.t - t0) / 1000).toFixed(1)}s but no webhook notification arrived` };
  const got = [...new Set(all.map((e) => String(e.data?.receiver ?? "an unnamed receiver")))].join(", ");
  return { fail: `${desc} fired after ${((hit.t - t0) / 1000).toFixed(1)}s and was routed to ${got}, not ${a.receiver}`, evidence: all.slice(0, 5) };
};

/** Resolved within `resolvesWithin` of the fault's revert. */
const resolves: Check = ({ a, base, fault, hit, w, desc }, record) => {
  const within = a.resolvesWithin as number;
  const healed = fault?.revertedAt;
  if (healed === undefined) return { fail: "", result: missing(base, w, `fault ${a.fault ?? "(none)"} was never reverted, so resolution cannot be timed`) };
  const resolved = events(record, "alert.resolved").find((e) => e.t >= hit.t && matches(e, a.alert, a.labels));
  if (resolved !== undefined && resolved.t <= healed + within) return { evidence: resolved };
  const message = resolved ? `${desc} resolved ${((resolved.t - healed) / 1000).toFixed(1)}s after the revert, later than ${within / 1000}s` : `${desc} still firing ${((runEnd(record) - healed) / 1000).toFixed(0)}s after the revert`;
  return { fail: message, result: { ...base, verdict: "fail", measured: resolved ? (resolved.t - healed) / 1000 : null, limit: within / 1000, unit: "s", window: { start: healed, end: healed + within }, message, evidence: [] } };
};

/** The alerts poller's name in its observer.error / observer.recovered events (lib/observe/prometheus.ts). */
export const ALERTS_OBSERVER = "prometheus alerts";

/** One alert's identity: its labels, in order. */
export const alertKey = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

/**
 * How late the target's alert rules show a moment (ms), where faultline wrote them (the run's
 * `environment.alertRules`, from the stack's scrape and evaluation intervals); 0 when unknown.
 */
export function rulesLagMs(record: RunRecord): number {
  const rules = record.environment?.alertRules as { lagMs?: unknown } | undefined;
  return typeof rules?.lagMs === "number" && rules.lagMs > 0 ? rules.lagMs : 0;
}

/**
 * The firings that were on at any moment of `w`: begun in it, or begun before it and not yet resolved
 * when it began (an alert raised in the warm-up and firing through the baseline is the baseline's too)
 * — unless it resolved within `lagMs` of the start: Prometheus was still catching up with the moments
 * before the window (a scrape and an evaluation behind), so those seconds of firing spoke of them, not
 * of the window (testcontainers, 2026-12-04: HighP99Latency raised by a cold stack in the warm-up,
 * resolved 0.4 s into the baseline, failed a healthy run's quiet baseline).
 */
export function firingDuring(timeline: readonly TimelineEvent[], w: Window, lagMs = 0): TimelineEvent[] {
  const on = new Map<string, TimelineEvent>();
  const out: TimelineEvent[] = [];
  const transitions = timeline.filter((e) => (e.type === "alert.firing" || e.type === "alert.resolved") && e.t <= w.end).sort((a, b) => a.t - b.t);
  for (const e of transitions) {
    const key = alertKey((e.data?.labels ?? {}) as Record<string, string>);
    if (e.type === "alert.firing") {
      on.set(key, e);
      if (e.t >= w.start) out.push(e);
    } else if (e.type === "alert.resolved") {
      const f = on.get(key);
      on.delete(key);
      if (f !== undefined && f.t < w.start && e.t >= w.start + lagMs) out.push(f);
    }
  }
  for (const f of on.values()) if (f.t < w.start) out.push(f);
  return out.sort((a, b) => a.t - b.t);
}

/**
 * The alerts pending or firing at the timeline's end that were raised at `since` or after, by name (one
 * standing from before stays out). One that went pending and resolved twice or more since then without
 * firing is flapping around its threshold and is left out too: waiting cannot quiet it, and it fires
 * in the baseline, or not, whether the baseline starts now or later.
 */
export function alertsRaisedSince(timeline: readonly TimelineEvent[], since: number): string[] {
  const active = new Map<string, { name: string; t: number }>();
  const flaps = new Map<string, number>();
  const fired = new Set<string>();
  for (const e of timeline) {
    if (e.type !== "alert.pending" && e.type !== "alert.firing" && e.type !== "alert.resolved") continue;
    const labels = (e.data?.labels ?? {}) as Record<string, string>;
    const key = alertKey(labels);
    if (e.type === "alert.firing" && e.t >= since) fired.add(key);
    if (e.type === "alert.resolved") {
      if (active.has(key) && e.t >= since) flaps.set(key, (flaps.get(key) ?? 0) + 1);
      active.delete(key);
    } else if (!active.has(key)) active.set(key, { name: labels.alertname ?? "?", t: e.t });
  }
  const waited = [...active].filter(([key, a]) => a.t >= since && (fired.has(key) || (flaps.get(key) ?? 0) < 2));
  return [...new Set(waited.map(([, a]) => a.name))];
}

/** Until when the run saw Prometheus' alert states: its end, or the moment the alerts API stopped answering for good. */
function watchedUntil(record: RunRecord): number {
  const end = runEnd(record);
  const mine = events(record, (t) => t === "observer.error" || t === "observer.recovered").filter((e) => e.data?.observer === ALERTS_OBSERVER && e.t <= end);
  const last = mine.at(-1);
  return last?.type === "observer.error" ? last.t : end;
}

/**
 * It never fired. Decisive when what it had to come before already happened (the other alert, the
 * clients' errors): no early warning, however long the limit. Otherwise a fail only when the run
 * watched the whole limit; a run that ended (or lost Prometheus) sooner cannot tell: inconclusive.
 */
function silent(c: Omit<AlertContext, "hit">, record: RunRecord, evidence: unknown[], at: (measured: number | null, message: string, evidence: unknown[]) => AssertionResult): AssertionResult {
  const { a, base, desc, fault, t0, w } = c;
  const of = fault ? `fault ${fault.name}` : "the start";
  const until = watchedUntil(record);
  // what it had to come before came, and it had not fired: no early warning, however long the limit
  const other = a.before !== undefined ? firstFiring(record, a.before, t0) : undefined;
  if (other !== undefined && other.t <= until) return at(null, `${desc} never fired, and ${a.before} fired ${((other.t - t0) / 1000).toFixed(1)}s after ${of}: no early warning`, [other, ...evidence]);
  const errs = a.beforeErrors !== undefined ? firstErrors(record, t0, Math.min(until, w.end), a.beforeErrors) : undefined;
  if (errs) {
    return at(null, `${desc} never fired, and the clients' error rate was already ${pct(errs.w.errorRate)} (> ${pct(a.beforeErrors ?? 0)}) at +${((errs.s - t0) / 1000).toFixed(1)}s: no early warning`, [evidenceRow(errs.s, errs.w), ...evidence]);
  }
  if (until >= w.end) return at(null, `${desc} never fired within ${a.within / 1000}s of ${of}`, evidence);
  const why = until < runEnd(record) ? `Prometheus' alerts API stopped answering ${((until - t0) / 1000).toFixed(1)}s after ${of}` : `the run ended ${((until - t0) / 1000).toFixed(1)}s after ${of}`;
  return { ...base, verdict: "inconclusive", measured: null, limit: a.within / 1000, unit: "s", window: w, message: `inconclusive: ${desc} had not fired when ${why}, before its limit of ${a.within / 1000}s: whether it would have fired in time is unknown (a longer recovery phase, or a shorter \`within\`, lets the run tell)`, evidence };
}

/** Alert states come from Prometheus' alerts API (polled) and deliveries from the webhook receiver. */
export function judgeAlert(a: z.infer<typeof AlertAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  if (!events(record, "observer.prometheus").some((e) => e.data?.ok === true)) {
    return missing(base, windowOf(record, "run"), "no alert states were observed (no Prometheus in the target, or it never answered)");
  }
  const fault = a.fault !== undefined ? faultOf(record, a.fault) : undefined;
  const run = windowOf(record, a.during);
  const firing = events(record, "alert.firing").filter((e) => matches(e, a.alert, a.labels, a.severity));
  const desc = `${a.alert}${a.labels ? `{${Object.entries(a.labels).map(([k, v]) => `${k}="${v}"`).join(",")}}` : ""}${a.severity ? ` (${a.severity})` : ""}`;
  if (!a.fires) return judgeQuiet(a, base, desc, fault, record, run);
  const t0 = fault?.injectedAt ?? run.start;
  if (fault !== undefined && fault.injectedAt === undefined) return missing(base, run, `fault ${a.fault} never took effect`);
  const w = { start: t0, end: t0 + a.within };
  const at = (measured: number | null, message: string, evidence: unknown[]): AssertionResult => ({ ...base, verdict: "fail", measured, limit: a.within / 1000, unit: "s", window: w, message, evidence });
  const early = firing.filter((e) => e.t < t0 && e.t >= windowOf(record, "run").start);
  if (early.length > 0) return at((early[0]!.t - t0) / 1000, `${desc} fired ${((t0 - early[0]!.t) / 1000).toFixed(1)}s before the fault: a false positive, not a detection`, early.slice(0, 10));
  const hit = firing.find((e) => e.t >= t0);
  if (hit === undefined || hit.t > w.end) {
    const evidence = events(record, (t) => t.startsWith("alert.")).filter((e) => (e.data?.labels as Record<string, string> | undefined)?.alertname === a.alert).slice(0, 20);
    if (hit !== undefined) return at((hit.t - t0) / 1000, `${desc} fired after ${((hit.t - t0) / 1000).toFixed(1)}s, later than ${a.within / 1000}s`, evidence);
    return silent({ a, base, desc, fault, t0, w }, record, evidence, at);
  }
  const firedIn = (hit.t - t0) / 1000;
  const ctx: AlertContext = { a, base, desc, fault, t0, w, hit };
  const evidence: unknown[] = [hit];
  const mustDeliver = a.delivered || a.receiver !== undefined;
  const checks = [...(a.before !== undefined ? [before] : []), ...(a.beforeErrors !== undefined ? [beforeErrors] : []), ...(mustDeliver ? [delivered] : []), ...(a.resolvesWithin !== undefined ? [resolves] : [])];
  for (const check of checks) {
    const r = check(ctx, record);
    if ("fail" in r) return r.result !== undefined ? { ...r.result, evidence: r.result.evidence.length ? r.result.evidence : evidence } : at(firedIn, r.fail, r.evidence ?? evidence);
    evidence.push(r.evidence);
  }
  return {
    ...base,
    verdict: "pass",
    measured: firedIn,
    limit: a.within / 1000,
    unit: "s",
    window: w,
    message: `${desc} fired ${firedIn.toFixed(1)}s after ${fault ? `fault ${fault.name}` : "the start"}${mustDeliver ? `, delivered${a.receiver !== undefined ? ` to ${a.receiver}` : ""}` : ""}${a.resolvesWithin !== undefined ? ", resolved in time" : ""}`,
    evidence,
  };
}

/** No alert fires where none should: a firing in the baseline is a false positive. */
export function judgeNoUnexpectedAlerts(a: z.infer<typeof NoUnexpectedAlertsAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  if (!events(record, "observer.prometheus").some((e) => e.data?.ok === true)) return missing(base, w, "no alert states were observed");
  const lagMs = rulesLagMs(record);
  const counted = (firings: TimelineEvent[]): TimelineEvent[] => firings.filter((e) => !a.ignore.includes(String((e.data?.labels as Record<string, string>)?.alertname)));
  const bad = counted(firingDuring(record.timeline, w, lagMs));
  const nameOf = (e: TimelineEvent): string => String((e.data?.labels as Record<string, string>).alertname);
  const names = [...new Set(bad.map(nameOf))];
  // those left out as the moments before the window's, named, so a pass does not hide them
  const caughtUp = [...new Set(counted(firingDuring(record.timeline, w)).filter((e) => !bad.includes(e)).map(nameOf))];
  const note = caughtUp.length > 0 ? ` (${caughtUp.join(", ")} firing as it began resolved within the alert rules' ${(lagMs / 1000).toFixed(1)}s lag: it spoke of the moments before)` : "";
  return {
    ...base,
    verdict: bad.length === 0 ? "pass" : "fail",
    measured: bad.length,
    limit: 0,
    unit: "alerts",
    window: w,
    message: bad.length === 0 ? `no alert fired during ${a.during}${note}` : `unexpected alert(s) during ${a.during}: ${names.join(", ")}${note}`,
    evidence: bad.slice(0, 20),
  };
}
