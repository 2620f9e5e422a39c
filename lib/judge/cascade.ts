import type { z } from "zod";
import type { AmplificationAssertion, GoodputAssertion, NoCascadeAssertion } from "../schema/experiment.ts";
import type { AssertionResult, RunRecord } from "../schema/run-record.ts";
import { bucketsIn, faultOf, missing, pct, runEnd, stats, windowOf } from "./context.ts";
import type { Window } from "./context.ts";

/** The stack lane's samples are one a second (lib/observe/stack-lane.ts). */
const LANE_STEP_S = 1;

/** Requests that reached the replicas in the window, from the stack lane's per-second rates; null when the lane has none. */
export function replicaRequests(record: RunRecord, w: Window): number | null {
  const xs = (record.series.stack ?? []).filter((s) => s.t >= w.start && s.t < w.end && s.replicaRequestsPerSecond !== undefined);
  return xs.length === 0 ? null : xs.reduce((n, s) => n + (s.replicaRequestsPerSecond as number) * LANE_STEP_S, 0);
}

/** What clients meant to send in the window, and the tries they sent for it (first tries and retries). */
function clientSide(record: RunRecord, w: Window): { meant: number; tries: number } {
  const buckets = record.series.load ? bucketsIn(record.series.load, w) : [];
  const meant = buckets.reduce((n, b) => n + b.sent, 0);
  return { meant, tries: meant + buckets.reduce((n, b) => n + (b.retries ?? 0), 0) };
}

/**
 * Retry amplification: requests that reached the replicas ÷ requests the clients meant to send.
 * Client retries, the gateway's own retries and redispatches all count; a retry the gateway
 * refused (its retry budget) does not, since it cost the fleet nothing.
 */
export function judgeAmplification(a: z.infer<typeof AmplificationAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  const { meant, tries } = clientSide(record, w);
  if (meant === 0) return missing(base, w, `no requests sent during ${a.during}`);
  const reached = replicaRequests(record, w);
  if (reached === null) return missing(base, w, `no replica request rate (inference_requests_received_total) in the stack lane during ${a.during}`);
  const measured = reached / meant;
  const ok = measured <= a.max;
  return {
    ...base,
    verdict: ok ? "pass" : "fail",
    measured: Math.round(measured * 1000) / 1000,
    limit: a.max,
    unit: "×",
    window: w,
    message: `${ok ? "bounded" : "amplified"} during ${a.during}: ${Math.round(reached)} requests reached the replicas for ${meant} that clients meant to send (×${measured.toFixed(2)}, limit ×${a.max}); clients sent ${tries} tries (×${(tries / meant).toFixed(2)})`,
    evidence: [{ reached: Math.round(reached), meant, tries }],
  };
}

/** Goodput: successful requests per second over the window, as a share of those offered and absolutely. */
export function judgeGoodput(a: z.infer<typeof GoodputAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const w = windowOf(record, a.during);
  if (record.series.load === undefined) return missing(base, w, "no load series");
  const s = stats(bucketsIn(record.series.load, w));
  const seconds = (w.end - w.start) / 1000;
  if (s.sent === 0 || seconds <= 0) return missing(base, w, `no requests sent during ${a.during}`);
  const share = s.ok / s.sent;
  const perSecond = s.ok / seconds;
  const failed: string[] = [];
  if (a.minShare !== undefined && share < a.minShare) failed.push(`share ${pct(share)} < ${pct(a.minShare)}`);
  if (a.minPerSecond !== undefined && perSecond < a.minPerSecond) failed.push(`${perSecond.toFixed(0)}/s < ${a.minPerSecond}/s`);
  const byShare = a.minShare !== undefined;
  return {
    ...base,
    verdict: failed.length === 0 ? "pass" : "fail",
    measured: byShare ? Math.round(share * 10_000) / 10_000 : Math.round(perSecond),
    limit: byShare ? (a.minShare as number) : (a.minPerSecond as number),
    unit: byShare ? "ratio" : "req/s",
    window: w,
    message: `goodput during ${a.during}: ${perSecond.toFixed(0)} successful requests/s of ${(s.sent / seconds).toFixed(0)} offered (${pct(share)})${failed.length ? ` — ${failed.join(", ")}` : ""}`,
    evidence: [{ ok: s.ok, sent: s.sent, seconds }],
  };
}

/**
 * No cascade: while the fault holds, every region it did not touch keeps its SLO, judged on its
 * replicas' own numbers (the stack lane's per-region samples): non-2xx share over the window
 * (sheds included) and p99 per second, of which at most `tolerance` of the seconds may be over.
 */
export function judgeNoCascade(a: z.infer<typeof NoCascadeAssertion>, record: RunRecord): AssertionResult {
  const base = { name: a.name, kind: a.kind };
  const fault = faultOf(record, a.fault);
  const t0 = fault?.injectedAt;
  const w = { start: t0 ?? record.startedAt, end: fault?.revertedAt ?? runEnd(record) };
  if (t0 === undefined) return missing(base, w, `fault ${a.fault} never took effect`);
  const faulted = a.region ?? fault?.labels.region;
  const samples = (record.series.stack ?? []).filter((s) => s.t >= w.start && s.t < w.end && s.regions !== undefined);
  const regions = [...new Set(samples.flatMap((s) => Object.keys(s.regions ?? {})))].filter((r) => r !== faulted).sort();
  if (regions.length === 0) return missing(base, w, `no per-region samples of the other regions in the stack lane while ${a.fault} held`);
  const rows = regions.map((region) => {
    const xs = samples.map((s) => s.regions?.[region]).filter((x) => x !== undefined);
    const requests = xs.reduce((n, x) => n + (x.requestsPerSecond ?? 0), 0);
    const errors = xs.reduce((n, x) => n + (x.errorsPerSecond ?? 0), 0);
    const p99s = xs.flatMap((x) => (x.p99Ms === undefined ? [] : [x.p99Ms]));
    const over = p99s.filter((v) => v > a.maxP99).length;
    const errorRate = requests > 0 ? errors / requests : 0;
    const slowShare = p99s.length > 0 ? over / p99s.length : 0;
    return { region, requests: Math.round(requests), errorRate, worstP99Ms: p99s.length ? Math.max(...p99s) : null, slowSeconds: over, seconds: p99s.length, held: errorRate <= a.maxErrorRate && slowShare <= a.tolerance };
  });
  const broken = rows.filter((r) => !r.held);
  const show = (r: (typeof rows)[number]): string => `${r.region} ${pct(r.errorRate)} errors, p99 over ${a.maxP99}ms in ${r.slowSeconds}/${r.seconds} s (worst ${r.worstP99Ms ?? "n/a"}ms)`;
  const worst = broken[0] ?? rows[0];
  return {
    ...base,
    verdict: broken.length === 0 ? "pass" : "fail",
    measured: worst ? Math.round(worst.errorRate * 10_000) / 10_000 : null,
    limit: a.maxErrorRate,
    unit: "ratio",
    window: w,
    message: `${broken.length === 0 ? "contained" : "cascaded"} while ${a.fault} held${faulted ? ` on ${faulted}` : ""}: ${rows.map(show).join("; ")} (limits ${pct(a.maxErrorRate)}, ${pct(a.tolerance)} of seconds)`,
    evidence: rows,
  };
}
