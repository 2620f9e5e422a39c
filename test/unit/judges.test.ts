import { expect } from "chai";
import * as hdr from "hdr-histogram-js";
import { ALERTS_OBSERVER, alertsRaisedSince, judgeAlert, judgeNoUnexpectedAlerts } from "../../lib/judge/alert.ts";
import { judgeAmplification, judgeGoodput, judgeNoCascade } from "../../lib/judge/cascade.ts";
import { judgeFailover } from "../../lib/judge/failover.ts";
import { parseGatewayBuckets } from "../../lib/stack/gateway-record.ts";
import { judgeCapacity, judgeRescheduled } from "../../lib/judge/kubernetes.ts";
import { judgePromotion, judgeRollback, judgeTrafficSplit } from "../../lib/judge/rollback.ts";
import { judgeSlo, judgeThreshold } from "../../lib/judge/slo.ts";
import { auditSessions, judgeRpo, judgeRto } from "../../lib/judge/sessions.ts";
import { BUCKET_MS, emptyOutcomes, newHistogram } from "../../lib/schema/series.ts";
import type { LoadBucket } from "../../lib/schema/series.ts";
import type { GatewayBucket, GatewayRecord, RunRecord, TimelineEvent } from "../../lib/schema/run-record.ts";
import { parseThreshold } from "../../lib/schema/threshold.ts";

const T0 = 1_000_000;

interface Sec {
  /** requests in this second */ n?: number;
  /** error share */ err?: number;
  /** latency of every request, ms */ ms?: number;
  regions?: Record<string, number>;
  versions?: Record<string, number>;
}

/** A hand-made load series: one spec per second, spread over ten 100 ms buckets. */
function series(seconds: Sec[]): LoadBucket[] {
  const out: LoadBucket[] = [];
  seconds.forEach((s, i) => {
    for (let k = 0; k < 10; k++) {
      const n = (s.n ?? 100) / 10;
      const bad = Math.round(n * (s.err ?? 0));
      const h = newHistogram();
      for (let j = 0; j < n - bad; j++) h.recordValue((s.ms ?? 20) * 1000);
      const ok = n - bad;
      const share = (m?: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(m ?? {}).map(([r, f]) => [r, Math.round(ok * f)]));
      out.push({
        t: T0 + i * 1000 + k * BUCKET_MS,
        sent: n,
        outcomes: { ...emptyOutcomes(), ok, s5xx: bad },
        lat: null,
        ...(h.totalCount ? { latHdr: hdr.encodeIntoCompressedBase64(h) } : {}),
        ttft: null,
        itl: null,
        regions: share(s.regions ?? { "us-east": 0.7, "us-west": 0.3 }),
        versions: share(s.versions ?? { "sim:v1": 1 }),
      });
      h.destroy();
    }
  });
  return out;
}

/** baseline [0,10s), fault [10s,40s), recovery [40s,60s); the fault "f" from 10s to 40s. */
function record(load: LoadBucket[] | undefined, timeline: TimelineEvent[] = [], faultLabels: Record<string, string> = { region: "us-east" }): RunRecord {
  return {
    schemaVersion: 1,
    runId: "r",
    experiment: { name: "e" },
    target: { name: "t" },
    startedAt: T0,
    endedAt: T0 + 60_000,
    timeScale: 1,
    phases: [
      { name: "baseline", start: T0, end: T0 + 10_000 },
      { name: "fault", start: T0 + 10_000, end: T0 + 40_000 },
      { name: "recovery", start: T0 + 40_000, end: T0 + 60_000 },
    ],
    faults: [{ name: "f", kind: "region-outage", targets: [], labels: faultLabels, plannedAt: 0, plannedDuration: 30_000, injectedAt: T0 + 10_000, revertedAt: T0 + 40_000, actions: [] }],
    assertions: [],
    timeline: [{ t: T0 + 500, type: "observer.prometheus", message: "", data: { ok: true } }, ...timeline],
    series: { probes: {}, ...(load ? { load: { version: 1, engine: "test", bucketMs: BUCKET_MS, start: T0, targetRate: 100, buckets: load } } : {}) },
  };
}

const healthy: Sec = {};
const during = <S extends Sec>(n: number, s: S): S[] => Array.from({ length: n }, () => s);
const failoverA = { kind: "failover" as const, name: "fo", fault: "f", within: 30_000, maxErrorRate: 0.01, sustain: 5000, maxFaultedShare: 0.01, maxP99: 500 };
const alert = (name: string, type: string, atSec: number, labels: Record<string, string> = {}): TimelineEvent => ({ t: T0 + atSec * 1000, type, message: "", data: { labels: { alertname: name, ...labels } } });

describe("judge: failover", () => {
  it("measures the time until every condition holds for the sustain window", () => {
    const s = series([...during(10, healthy), ...during(4, { err: 0.7, regions: { "us-west": 1 } }), ...during(26, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    const r = judgeFailover(failoverA, record(s));
    expect(r.verdict).to.equal("pass");
    expect(r.measured).to.equal(4000);
  });

  // the fault lasts 30 s: a limit of 25 s and a 5 s sustain window fit in it
  const within25 = { ...failoverA, within: 25_000 };

  it("a failover that never settles fails with evidence, not a timeout", () => {
    const s = series([...during(10, healthy), ...during(30, { err: 0.5, regions: { "us-east": 0.4, "us-west": 0.6 } }), ...during(20, healthy)]);
    const r = judgeFailover(within25, record(s));
    expect(r.verdict).to.equal("fail");
    expect(r.measured).to.equal(null);
    expect(r.message).to.match(/^failover never settled in 30\.0s of fault: the best 5s window had error rate 50\.00%/);
    expect(r.evidence.length).to.be.greaterThan(0);
  });

  it("never settled in a fault shorter than the limit and a sustain window is inconclusive, not a fail", () => {
    const s = series([...during(10, healthy), ...during(30, { err: 0.5, regions: { "us-east": 0.4, "us-west": 0.6 } }), ...during(20, healthy)]);
    const r = judgeFailover(failoverA, record(s));
    expect(r.verdict).to.equal("inconclusive");
    expect(r.message).to.match(/^inconclusive: failover never settled in 30\.0s of fault, which ended before the limit and a sustain window after it \(35s\): a failover settling after \+25\.0s could not be seen/);
    // a limit that, with its sustain window, fits in the fault is decisive: not settled by +20 s is a fail
    const late = series([...during(10, healthy), ...during(27, { err: 0.5, regions: { "us-west": 1 } }), ...during(3, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    expect(judgeFailover({ ...failoverA, within: 20_000 }, record(late)).verdict).to.equal("fail");
    const settledLate = series([...during(10, healthy), ...during(22, { err: 0.5, regions: { "us-west": 1 } }), ...during(8, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    const r2 = judgeFailover({ ...failoverA, within: 20_000 }, record(settledLate));
    expect(r2.verdict, r2.message).to.equal("fail");
    expect(r2.measured).to.be.within(21_900, 22_000);
  });

  it("a flapping error rate does not count as settled until it stays down for the sustain window", () => {
    const flap = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? { err: 0.2, regions: { "us-west": 1 } } : { regions: { "us-west": 1 } }));
    const s = series([...during(10, healthy), ...flap, ...during(10, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    const r = judgeFailover(failoverA, record(s));
    // the first 5 s window whose aggregate holds starts in the last flap's second (0.8 % errors)
    expect(r.measured, r.message).to.be.within(18_500, 19_000);
    expect(r.verdict).to.equal("pass");
    expect(judgeFailover({ ...failoverA, within: 15_000 }, record(s)).verdict).to.equal("fail");
  });

  it("traffic still served by the faulted region, or a p99 over the SLO, is not failover", () => {
    const sticky = series([...during(10, healthy), ...during(30, { regions: { "us-east": 0.1, "us-west": 0.9 } }), ...during(20, healthy)]);
    expect(judgeFailover(within25, record(sticky)).verdict).to.equal("fail");
    const slow = series([...during(10, healthy), ...during(30, { ms: 900, regions: { "us-west": 1 } }), ...during(20, healthy)]);
    expect(judgeFailover(within25, record(slow)).message).to.match(/^failover never settled/);
  });

  /** The gateway's own record, per second as `series` above: `late` of each second's requests answered past 500 ms, `lost` never answered. */
  const BOUNDS = [5, 10, 25, 50, 100, 200, 300, 500, 750, 1000, 2500, 5000, 10000, 30000];
  function gateway(seconds: (Sec & { late?: number; lost?: number })[]): GatewayRecord {
    const buckets: GatewayBucket[] = [];
    seconds.forEach((s, i) => {
      for (let k = 0; k < 10; k++) {
        const n = (s.n ?? 100) / 10;
        const lost = Math.round(n * (s.lost ?? 0));
        const bad = Math.round(n * (s.err ?? 0));
        const late = Math.round(n * (s.late ?? 0));
        const ok = n - lost - bad;
        const answered = new Array<number>(BOUNDS.length + 1).fill(0);
        answered[3] = n - lost - late; // ≤ 50 ms
        answered[9] = late; // ≤ 1 s
        const regions = Object.fromEntries(Object.entries(s.regions ?? { "us-east": 0.7, "us-west": 0.3 }).map(([r, f]) => [r, Math.round(ok * f)]));
        buckets.push({ t: T0 + i * 1000 + k * 100, accepted: n, ok, regions, answered });
      }
    });
    return { bucketMs: 100, boundsMs: BOUNDS, buckets };
  }

  it("the gateway's own record is a second measurement of the same failover, by the same rule, beside the clients'", () => {
    const load = series([...during(10, healthy), ...during(4, { err: 0.7, regions: { "us-west": 1 } }), ...during(26, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    // the gateway answered every request past 500 ms for a second after the clients' failover
    const rec = record(load);
    rec.series.gateway = gateway([...during(10, healthy), ...during(4, { lost: 0.7, regions: { "us-west": 1 } }), ...during(1, { late: 1, regions: { "us-west": 1 } }), ...during(25, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    // p99 ≤ 500 ms lets 1 % of a 5 s window's 500 requests be late: a window holding one of that second's buckets has 10
    const r = judgeFailover(failoverA, rec);
    expect(r.measured).to.equal(4000);
    expect(r.crossCheck?.by).to.equal("gateway");
    expect(r.crossCheck?.measured).to.equal(5000);
    expect(r.crossCheck?.message).to.match(/^the gateway's own record puts it at 5\.00s \(the clients': 4\.00s, 1\.00s earlier\)/);
    // a gateway that kept answering from the faulted region never settles, whatever the clients say
    rec.series.gateway = gateway([...during(10, healthy), ...during(30, { regions: { "us-east": 0.2, "us-west": 0.8 } }), ...during(20, healthy)]);
    expect(judgeFailover(failoverA, rec).crossCheck).to.deep.include({ measured: null });
    // without a record (a target whose gateway keeps none), no cross-check and nothing else changes
    delete rec.series.gateway;
    const bare = judgeFailover(failoverA, rec);
    expect(bare.crossCheck).to.equal(undefined);
    expect(bare.measured).to.equal(4000);
  });

  it("where the clients settle a second or more after the gateway, the cross-check says what held the clients' side in between", () => {
    // the clients saw 900 ms for 3 s after the gateway had settled, with the generator held 200 ms and the host full
    const load = series([...during(10, healthy), ...during(4, { err: 0.7, regions: { "us-west": 1 } }), ...during(3, { ms: 900, regions: { "us-west": 1 } }), ...during(23, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    for (const b of load) if (b.t >= T0 + 14_000 && b.t < T0 + 17_000) b.gen = { lagMs: 200, loopMs: 200 };
    const rec = record(load);
    rec.series.gateway = gateway([...during(10, healthy), ...during(4, { lost: 0.7, regions: { "us-west": 1 } }), ...during(26, { regions: { "us-west": 1 } }), ...during(20, healthy)]);
    rec.series.host = Array.from({ length: 60 }, (_, i) => ({ t: T0 + (i + 1) * 1000, cores: 2, busy: i >= 14 && i < 17 ? 2 : 1.2, own: 0.3 }));
    const r = judgeFailover(failoverA, rec);
    expect(r.measured, r.message).to.equal(7000);
    expect(r.crossCheck?.measured).to.equal(4000);
    expect(r.crossCheck?.message).to.match(/\(the clients': 7\.00s, 3\.00s later\).*; in between, the load generator was held past 100 ms on 37\.5% of the requests \(up to 200 ms\) and the host's 2 cores were 95% busy or more for 3[0-9]% of the time: the clients' time includes this host's own delays$/);
    // the same gap on a healthy instrument and host says nothing more: the clients' time is the system's
    for (const b of load) delete b.gen;
    rec.series.host = rec.series.host.map((h) => ({ ...h, busy: 1.2 }));
    expect(judgeFailover(failoverA, rec).crossCheck?.message).to.match(/or never$/);
  });

  it("parses the gateway's `fl buckets` answer: the bucket's length, bounds, then one line per bucket, skipping what is not one", () => {
    const g = parseGatewayBuckets("bucket 100\nbounds 0.005,0.5,30\n1000 10 8 us-west=6,us-east=2 1:7,2:1,4:1\ngarbage line\n1100 3 0 - -\n");
    expect(g.boundsMs).to.deep.equal([5, 500, 30_000]);
    expect(g.buckets).to.deep.equal([
      { t: 1000, accepted: 10, ok: 8, regions: { "us-west": 6, "us-east": 2 }, answered: [7, 1, 0, 1] },
      { t: 1100, accepted: 3, ok: 0, regions: {}, answered: [0, 0, 0, 0] },
    ]);
    expect(g.bucketMs).to.equal(100);
    // an answer that does not say how long its buckets are cannot be placed in time: no record
    expect(parseGatewayBuckets("bounds 0.005,0.5,30\n1000 10 8 - -\n").buckets).to.deep.equal([]);
  });

  it("missing data is a failure with a message, never a pass", () => {
    const r = judgeFailover(failoverA, record(undefined));
    expect(r.verdict).to.equal("fail");
    expect(r.message).to.match(/no load series: nothing to judge/);
    const notInjected = record(series(during(60, healthy)));
    delete notInjected.faults[0]!.injectedAt;
    expect(judgeFailover(failoverA, notInjected).message).to.match(/never took effect/);
  });
});

describe("judge: alerts", () => {
  it("the alerts a warm-up raised and left active: not one it resolved, nor one standing from before it", () => {
    const ev = (t: number, type: string, alertname: string, extra: Record<string, string> = {}): TimelineEvent => ({ t, type, message: "", data: { labels: { alertname, ...extra } } });
    const timeline = [
      ev(T0 - 5000, "alert.firing", "Standing"),
      ev(T0 + 1000, "alert.pending", "HighP99Latency"),
      ev(T0 + 1500, "alert.pending", "GPUUtilizationHigh", { replica: "a" }),
      ev(T0 + 2000, "alert.pending", "Brief"),
      ev(T0 + 3000, "alert.resolved", "Brief"),
      ev(T0 + 4000, "alert.firing", "HighP99Latency"),
      ev(T0 + 4500, "alert.pending", "GPUUtilizationHigh", { replica: "b" }),
    ];
    expect(alertsRaisedSince(timeline, T0)).to.deep.equal(["HighP99Latency", "GPUUtilizationHigh"]);
    expect(alertsRaisedSince([...timeline, ev(T0 + 6000, "alert.resolved", "HighP99Latency")], T0)).to.deep.equal(["GPUUtilizationHigh"]);
    expect(alertsRaisedSince(timeline, T0 + 4200)).to.deep.equal(["GPUUtilizationHigh"]);
    // pending and resolved twice without firing, pending again: flapping, not waited for; one that fired is
    const flapping = [0, 1, 2, 3, 4].map((i) => ev(T0 + 1000 * (i + 1), i % 2 === 0 ? "alert.pending" : "alert.resolved", "GPUUtilizationHigh"));
    expect(alertsRaisedSince(flapping, T0)).to.deep.equal([]);
    expect(alertsRaisedSince(flapping.slice(0, 3), T0), "once resolved: still waited for").to.deep.equal(["GPUUtilizationHigh"]);
    const firedBefore = [ev(T0 + 500, "alert.firing", "GPUUtilizationHigh"), ...flapping];
    expect(alertsRaisedSince(firedBefore, T0)).to.deep.equal(["GPUUtilizationHigh"]);
  });

  const a = { kind: "alert" as const, name: "a", alert: "RegionDown", labels: { region: "us-east" }, fault: "f", fires: true, within: 60_000, delivered: false, during: "run" as const };

  it("passes when the alert fires within the limit of the fault, and reports how fast", () => {
    const r = judgeAlert(a, record(undefined, [alert("RegionDown", "alert.firing", 15, { region: "us-east" })]));
    expect(r).to.include({ verdict: "pass", measured: 5 });
  });

  it("an alert that fires before the fault is a false positive, not a detection", () => {
    const r = judgeAlert(a, record(undefined, [alert("RegionDown", "alert.firing", 6, { region: "us-east" })]));
    expect(r.verdict).to.equal("fail");
    expect(r.message).to.match(/fired 4\.0s before the fault: a false positive/);
  });

  it("fails when it never fires, fires too late, or fires for other labels", () => {
    // the run (to +60 s) watched 50 s after the fault: the whole of a 45 s limit
    expect(judgeAlert({ ...a, within: 45_000 }, record(undefined, [])).message).to.match(/never fired within 45s/);
    expect(judgeAlert({ ...a, within: 45_000 }, record(undefined, [])).verdict).to.equal("fail");
    expect(judgeAlert({ ...a, within: 3000 }, record(undefined, [alert("RegionDown", "alert.firing", 15, { region: "us-east" })])).message).to.match(/later than 3s/);
    expect(judgeAlert({ ...a, within: 45_000 }, record(undefined, [alert("RegionDown", "alert.firing", 15, { region: "us-west" })])).verdict).to.equal("fail");
  });

  it("never fired before the run (or Prometheus) stopped watching, with the limit not reached: inconclusive, not fail", () => {
    // the run ends 50 s after the fault; the limit is 60 s
    const r = judgeAlert(a, record(undefined, []));
    expect(r.verdict, r.message).to.equal("inconclusive");
    expect(r.message).to.match(/had not fired when the run ended 50\.0s after fault f, before its limit of 60s/);
    // Prometheus stopped answering 20 s after the fault and never came back: the run was blind from there
    const blind = (recovered: boolean): TimelineEvent[] => [
      { t: T0 + 30_000, type: "observer.error", message: "", data: { observer: ALERTS_OBSERVER } },
      ...(recovered ? [{ t: T0 + 32_000, type: "observer.recovered", message: "", data: { observer: ALERTS_OBSERVER } }] : []),
    ];
    const lost = judgeAlert({ ...a, within: 45_000 }, record(undefined, blind(false)));
    expect(lost.verdict).to.equal("inconclusive");
    expect(lost.message).to.match(/alerts API stopped answering 20\.0s after fault f/);
    // it answered again, and watched the rest of the limit: a silence is a miss
    expect(judgeAlert({ ...a, within: 45_000 }, record(undefined, blind(true))).verdict).to.equal("fail");
    // an early warning that never came is decisive once what it had to precede came, however long the limit
    const warn = { ...a, alert: "GPUMemoryHigh", labels: undefined, before: "GPUOutOfMemory", within: 600_000 };
    const missed = judgeAlert(warn, record(undefined, [alert("GPUOutOfMemory", "alert.firing", 20)]));
    expect(missed.verdict).to.equal("fail");
    expect(missed.message).to.match(/GPUMemoryHigh never fired, and GPUOutOfMemory fired 10\.0s after fault f: no early warning/);
    expect(judgeAlert(warn, record(undefined, [])).verdict).to.equal("inconclusive");
    const kv = { ...a, alert: "KVCacheUsageHigh", labels: undefined, beforeErrors: 0.01, within: 600_000 };
    const errors = series([...during(15, healthy), ...during(45, { err: 0.05 })]);
    expect(judgeAlert(kv, record(errors, [])).message).to.match(/KVCacheUsageHigh never fired, and the clients' error rate was already 5\.00% \(> 1\.00%\) at \+4\.5s: no early warning/);
    expect(judgeAlert(kv, record(series(during(60, healthy)), [])).verdict).to.equal("inconclusive");
  });

  it("requires the webhook delivery, the resolution after the revert, and an early warning when asked", () => {
    const fired = alert("RegionDown", "alert.firing", 15, { region: "us-east" });
    expect(judgeAlert({ ...a, delivered: true }, record(undefined, [fired])).message).to.match(/no webhook notification/);
    expect(judgeAlert({ ...a, delivered: true }, record(undefined, [fired, alert("RegionDown", "alert.delivered", 16, { region: "us-east" })])).verdict).to.equal("pass");
    expect(judgeAlert({ ...a, resolvesWithin: 10_000 }, record(undefined, [fired, alert("RegionDown", "alert.resolved", 55, { region: "us-east" })])).message).to.match(/resolved 15\.0s after the revert, later than 10s/);
    expect(judgeAlert({ ...a, resolvesWithin: 10_000 }, record(undefined, [fired, alert("RegionDown", "alert.resolved", 45, { region: "us-east" })])).verdict).to.equal("pass");
    const warn = { ...a, alert: "GPUMemoryHigh", labels: undefined, before: "GPUOutOfMemory" };
    expect(judgeAlert(warn, record(undefined, [alert("GPUOutOfMemory", "alert.firing", 20), alert("GPUMemoryHigh", "alert.firing", 22)])).message).to.match(/no early warning/);
    expect(judgeAlert(warn, record(undefined, [alert("GPUMemoryHigh", "alert.firing", 18), alert("GPUOutOfMemory", "alert.firing", 20)])).verdict).to.equal("pass");
  });

  it("receiver: the notification must come through that Alertmanager receiver; another route is named", () => {
    const fired = alert("RegionDown", "alert.firing", 15, { region: "us-east" });
    const via = (receiver: string, at = 16): TimelineEvent => ({ ...alert("RegionDown", "alert.delivered", at, { region: "us-east" }), data: { labels: { alertname: "RegionDown", region: "us-east" }, receiver } });
    expect(judgeAlert({ ...a, receiver: "chat" }, record(undefined, [fired, via("chat")]))).to.include({ verdict: "pass" });
    expect(judgeAlert({ ...a, receiver: "chat" }, record(undefined, [fired, via("chat")])).message).to.match(/delivered to chat/);
    const wrong = judgeAlert({ ...a, receiver: "chat" }, record(undefined, [fired, via("pager")]));
    expect(wrong.verdict).to.equal("fail");
    expect(wrong.message).to.match(/routed to pager, not chat/);
    expect(judgeAlert({ ...a, receiver: "chat" }, record(undefined, [fired])).message).to.match(/no webhook notification/);
    // a delivery long after the limit does not count
    expect(judgeAlert({ ...a, receiver: "chat" }, record(undefined, [fired, via("chat", 200)])).verdict).to.equal("fail");
  });

  it("beforeErrors: the warning must come before the first second whose client error rate passes the share", () => {
    const warn = { ...a, alert: "KVCacheUsageHigh", labels: undefined, beforeErrors: 0.01 };
    // 10 s healthy baseline, then 5 healthy seconds of fault, then 5 % errors from +5 s (the first second over the share starts at +4.5 s)
    const load = series([...during(15, healthy), ...during(45, { err: 0.05 })]);
    const early = judgeAlert(warn, record(load, [alert("KVCacheUsageHigh", "alert.firing", 13)]));
    expect(early.verdict, early.message).to.equal("pass");
    const late = judgeAlert(warn, record(load, [alert("KVCacheUsageHigh", "alert.firing", 18)]));
    expect(late.verdict).to.equal("fail");
    expect(late.message, late.message).to.match(/fired 8\.0s after the fault, but the clients' error rate was already 5\.00% \(> 1\.00%\) at \+4\.5s: no early warning/);
    // errors at the share, not past it, are not "the errors" yet: 1 in 100 passes
    expect(judgeAlert(warn, record(series([...during(15, healthy), ...during(45, { n: 1000, err: 0.005 })]), [alert("KVCacheUsageHigh", "alert.firing", 18)])).verdict).to.equal("pass");
    // no load of its own to tell when the errors began: a failure, never a pass
    expect(judgeAlert(warn, record(undefined, [alert("KVCacheUsageHigh", "alert.firing", 13)])).verdict).to.equal("fail");
  });

  it("fires: false passes only when the alert stays quiet in its window", () => {
    const quiet = { ...a, fires: false, during: "fault" as const };
    expect(judgeAlert(quiet, record(undefined, [alert("RegionDown", "alert.firing", 45, { region: "us-east" })])).verdict).to.equal("pass");
    expect(judgeAlert(quiet, record(undefined, [alert("RegionDown", "alert.firing", 20, { region: "us-east" })])).verdict).to.equal("fail");
    // firing since before the fault and still when it began: not quiet; resolved before it: quiet
    const before = judgeAlert(quiet, record(undefined, [alert("RegionDown", "alert.firing", 5, { region: "us-east" })]));
    expect(before.message).to.equal('RegionDown{region="us-east"} was firing as fault f began');
    expect(judgeAlert(quiet, record(undefined, [alert("RegionDown", "alert.firing", 5, { region: "us-east" }), alert("RegionDown", "alert.resolved", 8, { region: "us-east" })])).verdict).to.equal("pass");
    // resolved 1 s into the fault on a stack whose rules show a moment 3 s late: the moments before the fault's
    const caughtUp = record(undefined, [alert("RegionDown", "alert.firing", 5, { region: "us-east" }), alert("RegionDown", "alert.resolved", 11, { region: "us-east" })]);
    expect(judgeAlert(quiet, caughtUp).verdict).to.equal("fail");
    expect(judgeAlert(quiet, { ...caughtUp, environment: { alertRules: { lagMs: 3000 } } }).verdict).to.equal("pass");
  });

  it("no alert states observed at all is a failure, not a quiet pass", () => {
    const rec = record(undefined, []);
    rec.timeline = [];
    expect(judgeAlert({ ...a, fires: false }, rec).message).to.match(/no alert states were observed/);
    expect(judgeNoUnexpectedAlerts({ kind: "no-unexpected-alerts", name: "n", during: "baseline", ignore: [] }, rec).verdict).to.equal("fail");
  });

  it("no-unexpected-alerts fails on any firing in the baseline, except ignored ones", () => {
    const n = { kind: "no-unexpected-alerts" as const, name: "n", during: "baseline" as const, ignore: [] as string[] };
    expect(judgeNoUnexpectedAlerts(n, record(undefined, [alert("HighErrorRate", "alert.firing", 5)])).message).to.match(/unexpected alert\(s\) during baseline: HighErrorRate/);
    expect(judgeNoUnexpectedAlerts({ ...n, ignore: ["HighErrorRate"] }, record(undefined, [alert("HighErrorRate", "alert.firing", 5)])).verdict).to.equal("pass");
    expect(judgeNoUnexpectedAlerts(n, record(undefined, [alert("HighErrorRate", "alert.firing", 15)])).verdict).to.equal("pass");
    // firing since before the baseline (raised in the warm-up), and through it: the baseline's too
    const through = judgeNoUnexpectedAlerts(n, record(undefined, [alert("HighP99Latency", "alert.firing", -3)]));
    expect(through.message).to.equal("unexpected alert(s) during baseline: HighP99Latency");
    expect(judgeNoUnexpectedAlerts(n, record(undefined, [alert("HighP99Latency", "alert.firing", -3), alert("HighP99Latency", "alert.resolved", 2)])).verdict, "resolved in it").to.equal("fail");
    expect(judgeNoUnexpectedAlerts(n, record(undefined, [alert("HighP99Latency", "alert.firing", -3), alert("HighP99Latency", "alert.resolved", -1)])).verdict, "resolved before it").to.equal("pass");
     // on a stack whose rules show a moment 3 s late: resolved 0.4 s in, the firing spoke of the warm-up; 3.5 s in, of the baseline too
    const lagged = (resolvedAt: number): RunRecord => ({ ...record(undefined, [alert("HighP99Latency", "alert.firing", -3), alert("HighP99Latency", "alert.resolved", resolvedAt)]), environment: { alertRules: { lagMs: 3000, memoryMs: 13_000 } } });
    const early = judgeNoUnexpectedAlerts(n, lagged(0.4));
    expect(early.verdict, early.message).to.equal("pass");
    expect(early.message).to.equal("no alert fired during baseline (HighP99Latency firing as it began resolved within the alert rules' 3.0s lag: it spoke of the moments before)");
    expect(judgeNoUnexpectedAlerts(n, lagged(3.5)).message).to.equal("unexpected alert(s) during baseline: HighP99Latency");
    expect(judgeNoUnexpectedAlerts(n, { ...lagged(0.4), environment: {} }).verdict, "no rules' lag on record").to.equal("fail");
    // a firing begun in the window counts however soon it resolves
    const inIt = { ...record(undefined, [alert("HighErrorRate", "alert.firing", 1), alert("HighErrorRate", "alert.resolved", 1.5)]), environment: { alertRules: { lagMs: 3000 } } };
    expect(judgeNoUnexpectedAlerts(n, inIt).verdict).to.equal("fail");
  });
});

describe("judge: rollback, promotion, SLO, thresholds, traffic split", () => {
  const rb = { kind: "rollback" as const, name: "rb", fault: "f", within: 60_000, settleWithin: 30_000, errorRateTolerance: 0.01, p95Ratio: 1.5 };
  const bad = { err: 0.2, ms: 60, versions: { "sim:v1": 0.8, "sim:v2-bad": 0.2 } };

  it("passes when rolled back in time and the baseline returns with only the stable version", () => {
    const s = series([...during(10, healthy), ...during(12, bad), ...during(38, healthy)]);
    const r = judgeRollback(rb, record(s, [{ t: T0 + 22_000, type: "rollout.rolled-back", message: "rolled back" }]));
    expect(r.verdict, r.message).to.equal("pass");
    expect(r.measured).to.equal(12_000);
  });

  it("the rollback budget runs from the failed analysis to only the stable version serving", () => {
    const s = series([...during(10, healthy), ...during(12, bad), ...during(38, healthy)]);
    const events = [
      { t: T0 + 21_000, type: "rollout.analysis", message: "analysis Failed", data: { phase: "Failed" } },
      { t: T0 + 22_000, type: "rollout.rolled-back", message: "rolled back" },
    ];
    const ok = judgeRollback({ ...rb, budget: 60_000 }, record(s, events));
    expect(ok.verdict, ok.message).to.equal("pass");
    expect(ok.message).to.match(/1\.0s after the analysis failed \(budget 60s\)/);
    const late = judgeRollback({ ...rb, budget: 500 }, record(s, events));
    expect(late.verdict).to.equal("fail");
    expect(late.measured).to.equal(1000);
    expect(late.message).to.match(/past the rollback budget of 0\.5s/);
  });

  it("fails when never rolled back, and when the service does not return to the baseline", () => {
    const s = series([...during(10, healthy), ...during(50, bad)]);
    expect(judgeRollback(rb, record(s, [])).message).to.match(/never rolled back/);
    expect(judgeRollback(rb, record(s, [{ t: T0 + 22_000, type: "rollout.rolled-back", message: "" }])).message).to.match(/did not return to baseline/);
    const ok = series([...during(10, healthy), ...during(12, bad), ...during(38, healthy)]);
    expect(judgeRollback({ ...rb, alert: "CanaryRolledBack" }, record(ok, [{ t: T0 + 22_000, type: "rollout.rolled-back", message: "" }])).message).to.match(/CanaryRolledBack never fired/);
  });

  it("rollback with answers that name no version: no verdict from nothing, a failure that says why", () => {
    const s = series([...during(10, { versions: {} }), ...during(12, { ...bad, versions: {} }), ...during(38, { versions: {} })]);
    const r = judgeRollback(rb, record(s, [{ t: T0 + 22_000, type: "rollout.rolled-back", message: "" }]));
    expect(r.verdict).to.equal("fail");
    expect(r.message).to.match(/no answer in the baseline named its version/);
  });

  it("promotion needs the promoted event and a single version afterwards", () => {
    const s = series([...during(20, healthy), ...during(40, { versions: { "sim:v2": 1 } })]);
    const p = { kind: "promotion" as const, name: "p", fault: "f", within: 30_000, version: "sim:v2" };
    expect(judgePromotion(p, record(s, [{ t: T0 + 18_000, type: "rollout.promoted", message: "" }])).verdict).to.equal("pass");
    expect(judgePromotion(p, record(s, [])).message).to.match(/never promoted/);
    expect(judgePromotion({ ...p, version: "sim:v3" }, record(s, [{ t: T0 + 18_000, type: "rollout.promoted", message: "" }])).verdict).to.equal("fail");
  });

  it("promotion in one region's workload (a Rollout per region): the new version must serve that region's whole share", () => {
    const promoted = [{ t: T0 + 18_000, type: "rollout.promoted", message: "" }];
    const p = { kind: "promotion" as const, name: "p", fault: "f", within: 30_000, version: "sim:v2" };
    // us-east (70 % of the answers) on v2, us-west still on v1
    const whole = series([...during(20, healthy), ...during(40, { versions: { "sim:v2": 0.7, "sim:v1": 0.3 } })]);
    expect(judgePromotion(p, record(whole, promoted)).verdict).to.equal("pass");
    // half of us-east still on v1: not promoted there, whatever the controller says
    const half = series([...during(20, healthy), ...during(40, { versions: { "sim:v2": 0.35, "sim:v1": 0.65 } })]);
    const r = judgePromotion(p, record(half, promoted));
    expect(r.verdict).to.equal("fail");
    expect(r.message, r.message).to.match(/% sim:v2, less than us-east.s 70[.0-9]*% of the answers/);
  });

  it("SLO: availability and percentiles over a phase, each with measured and limit", () => {
    const s = series([...during(10, healthy), ...during(30, { n: 1000, err: 0.01, ms: 300 }), ...during(20, healthy)]);
    const slo = { kind: "slo" as const, name: "s", during: "fault" as const, availability: 0.999, p99: 500 };
    const r = judgeSlo(slo, record(s));
    expect(r.verdict).to.equal("fail");
    expect(r.message).to.match(/availability 99\.00% \(≥ 99\.90%\)/);
    expect(judgeSlo({ ...slo, availability: 0.99 }, record(s)).verdict).to.equal("pass");
    expect(judgeSlo({ ...slo, availability: undefined, p99: 200 }, record(s)).verdict).to.equal("fail");
    expect(judgeSlo(slo, record(undefined)).message).to.match(/no load series/);
  });

  it("SLO over the run: a slow warm-up is recorded but not judged; the same slowness in the baseline is", () => {
    // the first 3 s are slow; as a warm-up phase they are outside "run", as baseline they are in it
    const s = series([...during(3, { ms: 900 }), ...during(57, healthy)]);
    const slo = { kind: "slo" as const, name: "s", during: "run" as const, p99: 500 };
    const withWarmup = record(s);
    withWarmup.phases = [{ name: "warmup", start: T0, end: T0 + 3000 }, { ...withWarmup.phases[0]!, start: T0 + 3000 }, ...withWarmup.phases.slice(1)];
    expect(judgeSlo(slo, withWarmup).verdict).to.equal("pass");
    expect(judgeSlo(slo, withWarmup).window.start).to.equal(T0 + 3000);
    expect(judgeSlo(slo, record(s)).verdict).to.equal("fail");
  });

  it("SLO over a phase leaves out the bucket that straddles its end: the baseline's p99 is not the fault's first 100 ms", () => {
    // the baseline ends 2 ms into the first bucket of the fault (900 ms per request, 100 requests a bucket)
    const s = series([...during(10, healthy), ...during(30, { n: 1000, ms: 900 }), ...during(20, healthy)]);
    const r = record(s);
    r.phases = [{ name: "baseline", start: T0, end: T0 + 10_002 }, { name: "fault", start: T0 + 10_002, end: T0 + 40_000 }, ...r.phases.slice(2)];
    const slo = { kind: "slo" as const, name: "s", during: "baseline" as const, p99: 500 };
    const judged = judgeSlo(slo, r);
    expect(judged.verdict, judged.message).to.equal("pass");
    expect(judged.measured).to.be.below(30);
    // and the fault phase does see it
    expect(judgeSlo({ ...slo, during: "fault" }, r).verdict).to.equal("fail");
  });

  it("k6-style thresholds parse, quote bad input, and judge both ways", () => {
    expect(parseThreshold("http_req_duration: p(99) < 500ms")).to.deep.include({ metric: "http_req_duration", op: "<", value: 500 });
    expect(parseThreshold("http_req_failed: rate < 0.01")).to.deep.include({ value: 0.01 });
    expect(parseThreshold("http_req_duration: p99 < 5")).to.match(/cannot read threshold "http_req_duration: p99 < 5"/);
    expect(parseThreshold("http_req_failed: p(99) < 1")).to.match(/takes "rate"/);
    expect(parseThreshold("http_req_duration: p(75) < 100ms")).to.match(/p\(q\) takes q = 50, 90, 95, 99/);
    expect(parseThreshold("http_req_duration: p(90) < 100ms")).to.deep.include({ agg: { kind: "p", q: 90 } });
    const s = series([...during(10, healthy), ...during(30, { ms: 300 }), ...during(20, healthy)]);
    const th = (threshold: string) => judgeThreshold({ kind: "threshold", name: "t", threshold, during: "fault" }, record(s));
    expect(th("http_req_duration: p(99) < 500ms").verdict).to.equal("pass");
    expect(th("http_req_duration: p(99) < 250ms").verdict).to.equal("fail");
    expect(th("http_req_failed: rate < 0.01").verdict).to.equal("pass");
  });

  it("traffic split within tolerance over the end of a window", () => {
    const s = series([...during(40, healthy), ...during(10, { regions: { "us-west": 1 } }), ...during(10, healthy)]);
    const t = { kind: "traffic-split" as const, name: "t", during: "recovery" as const, expect: { "us-east": 0.7, "us-west": 0.3 }, tolerance: 0.05 };
    expect(judgeTrafficSplit(t, record(s)).verdict).to.equal("fail");
    expect(judgeTrafficSplit({ ...t, lastSeconds: 10 }, record(s)).verdict).to.equal("pass");
  });
});

describe("judge: kubernetes (rescheduled, capacity)", () => {
  const workload = (atSec: number, ready: number, byNode: Record<string, number>): TimelineEvent => ({ t: T0 + atSec * 1000, type: "k8s.workload", message: "", data: { ready, pods: ready, byNode } });
  const capacity = (atSec: number, allocatableGpus: number, requestedGpus: number): TimelineEvent => ({ t: T0 + atSec * 1000, type: "k8s.capacity", message: "", data: { allocatableGpus, requestedGpus, readyNodes: allocatableGpus / 8 } });
  const withNodes = (timeline: TimelineEvent[]): RunRecord => {
    const r = record(undefined, timeline);
    r.faults[0]!.targets = ["node-a"];
    return r;
  };
  const resA = { kind: "rescheduled" as const, name: "moved", fault: "f", within: 30_000 };

  it("rescheduled: the time until as many replicas are Ready as before, none on the lost node", () => {
    const r = withNodes([workload(1, 3, { "node-a": 1, "node-b": 1, "node-c": 1 }), workload(16, 2, { "node-b": 1, "node-c": 1 }), workload(18, 3, { "node-b": 2, "node-c": 1 })]);
    const res = judgeRescheduled(resA, r);
    expect(res.verdict).to.equal("pass");
    expect(res.measured).to.equal(8);
    expect(judgeRescheduled({ ...resA, within: 5000 }, r).verdict).to.equal("fail");
  });

  it("rescheduled fails when the lost replicas never come back, or still count on the lost node", () => {
    const pending = withNodes([workload(1, 3, { "node-a": 3 }), workload(16, 0, {})]);
    const res = judgeRescheduled(resA, pending);
    expect(res.verdict).to.equal("fail");
    expect(res.message).to.match(/never all Ready again off the lost nodes \(wanted 3; the last snapshot had 0, the lowest 0\)/);
    // Ready again, but on the node the fault took: not rescheduled
    const stale = withNodes([workload(1, 3, { "node-a": 1, "node-b": 2 }), workload(12, 3, { "node-a": 1, "node-b": 2 })]);
    expect(judgeRescheduled(resA, stale).verdict).to.equal("fail");
    expect(judgeRescheduled(resA, withNodes([])).message).to.match(/no kubernetes workload observations/);
  });

  it("capacity: the lowest usable-GPU ratio while the fault holds, against the limit", () => {
    const r = withNodes([capacity(1, 72, 9), capacity(12, 48, 9), capacity(41, 72, 9)]);
    const res = judgeCapacity({ kind: "capacity", name: "c", fault: "f", minRatio: 1.5 }, r);
    expect(res.verdict).to.equal("pass");
    expect(res.measured).to.be.closeTo(48 / 9, 1e-9);
    const tight = withNodes([capacity(1, 24, 9), capacity(12, 8, 9)]);
    const bad = judgeCapacity({ kind: "capacity", name: "c", fault: "f", minRatio: 1.5 }, tight);
    expect(bad.verdict).to.equal("fail");
    expect(bad.message).to.match(/at its lowest 8 usable GPUs on 1 nodes for 9 requested: 89% \(≥ 150%\)/);
    expect(judgeCapacity({ kind: "capacity", name: "c", fault: "f", minRatio: 1.5 }, withNodes([])).verdict).to.equal("fail");
  });
});

describe("judge: cascades (amplification, goodput)", () => {
  /** the stack lane: `rps` requests a second reaching the replicas, for the whole run */
  const withLane = (r: RunRecord, rps: (sec: number) => number): RunRecord => ({
    ...r,
    series: { ...r.series, stack: Array.from({ length: 60 }, (_, i) => ({ t: T0 + i * 1000, replicaRequestsPerSecond: rps(i) })) },
  });
  const amp = { kind: "amplification" as const, name: "amp", during: "fault" as const, max: 1.5 };

  it("amplification: requests reaching the replicas ÷ requests clients meant, over the window", () => {
    const retried = series([...during(10, healthy), ...during(30, { n: 100 }), ...during(20, healthy)]).map((b) => (b.t >= T0 + 10_000 && b.t < T0 + 40_000 ? { ...b, retries: 15 } : b));
    const storm = judgeAmplification(amp, withLane(record(retried), (i) => (i >= 10 && i < 40 ? 250 : 100)));
    expect(storm.verdict).to.equal("fail");
    expect(storm.measured).to.equal(2.5);
    expect(storm.message).to.match(/7500 requests reached the replicas for 3000 that clients meant to send \(×2\.50, limit ×1\.5\); clients sent 7500 tries \(×2\.50\)/);
    const bounded = judgeAmplification(amp, withLane(record(retried), (i) => (i >= 10 && i < 40 ? 120 : 100)));
    expect(bounded.verdict).to.equal("pass");
    expect(bounded.measured).to.equal(1.2);
  });

  it("amplification without the replicas' request rate is a failure, never a pass", () => {
    const r = judgeAmplification(amp, record(series(during(60, healthy))));
    expect(r.verdict).to.equal("fail");
    expect(r.message).to.match(/no replica request rate/);
  });

  it("no-cascade: the regions the fault did not touch keep their errors and p99 while it holds; the faulted one is left out", () => {
    const lane = (west: (sec: number) => { p99Ms: number; errorsPerSecond: number }): RunRecord => ({
      ...record(series(during(60, healthy))),
      series: {
        probes: {},
        stack: Array.from({ length: 60 }, (_, i) => ({ t: T0 + i * 1000, regions: { "us-east": { requestsPerSecond: 70, errorsPerSecond: 70, p99Ms: 5000 }, "us-west": { requestsPerSecond: 100, ...west(i) } } })),
      },
    });
    const a = { kind: "no-cascade" as const, name: "nc", fault: "f", maxP99: 500, maxErrorRate: 0.01, tolerance: 0.1 };
    const calm = judgeNoCascade(a, lane(() => ({ p99Ms: 80, errorsPerSecond: 0 })));
    expect(calm.verdict, calm.message).to.equal("pass");
    expect(calm.message).to.match(/contained while f held on us-east: us-west 0\.00% errors, p99 over 500ms in 0\/30 s/);
    // two slow seconds in thirty are within the tolerance; a third of them is a cascade
    expect(judgeNoCascade(a, lane((i) => ({ p99Ms: i === 15 || i === 20 ? 900 : 80, errorsPerSecond: 0 }))).verdict).to.equal("pass");
    expect(judgeNoCascade(a, lane((i) => ({ p99Ms: i >= 25 ? 900 : 80, errorsPerSecond: 0 }))).verdict).to.equal("fail");
    const shed = judgeNoCascade(a, lane((i) => ({ p99Ms: 80, errorsPerSecond: i >= 10 && i < 40 ? 5 : 0 })));
    expect(shed.verdict).to.equal("fail");
    expect(shed.measured).to.equal(0.05);
    expect(judgeNoCascade(a, record(series(during(60, healthy)))).verdict, "no lane: a failure").to.equal("fail");
  });

  it("goodput: successful requests against those offered, as a share and per second", () => {
    const s = series([...during(10, healthy), ...during(30, { n: 100, err: 0.4 }), ...during(20, healthy)]);
    const share = judgeGoodput({ kind: "goodput", name: "g", during: "fault", minShare: 0.9 }, record(s));
    expect(share.verdict).to.equal("fail");
    expect(share.measured).to.equal(0.6);
    expect(share.message).to.match(/60 successful requests\/s of 100 offered \(60\.00%\)/);
    expect(judgeGoodput({ kind: "goodput", name: "g", during: "fault", minPerSecond: 50 }, record(s)).verdict).to.equal("pass");
    expect(judgeGoodput({ kind: "goodput", name: "g", during: "baseline", minShare: 0.99 }, record(s)).verdict).to.equal("pass");
  });
});

describe("session judges: the audit, rpo and rto", () => {
  const acks = { acked: { a: [[1, T0 + 100], [2, T0 + 200], [3, T0 + 300]] as [number, number][], b: [[1, T0 + 150], [2, T0 + 250]] as [number, number][] } };

  it("counts an acknowledged turn missing from the store as lost; the span runs from the newest write kept before it", () => {
    const a = auditSessions(acks, { a: ["1", "3"], b: ["1", "2"] }, T0 + 1000);
    expect(a).to.include({ sessions: 2, acknowledged: 5, lost: 1, recoveryPoint: T0 + 150, newestLost: T0 + 200, rpoMs: 50 });
    expect(a.lostTurns).to.deep.equal([{ session: "a", turn: 2, t: T0 + 200 }]);
    expect(auditSessions(acks, { a: ["1", "2", "3"], b: ["1", "2"] }, T0).rpoMs).to.equal(0);
    // a session the store no longer has at all: every turn lost, nothing kept before the first
    expect(auditSessions(acks, { a: ["1", "2", "3"] }, T0)).to.include({ lost: 2, rpoMs: 150, recoveryPoint: T0 + 100 });
  });

  it("rpo fails past maxLost or the span, and without an audit (never a pass on missing data)", () => {
    const r = record(series(during(10, healthy)));
    r.sessions = auditSessions(acks, { a: ["1", "3"], b: ["1", "2"] }, T0);
    expect(judgeRpo({ kind: "rpo", name: "x", within: 60_000, maxLost: 0 }, r).verdict).to.equal("fail");
    expect(judgeRpo({ kind: "rpo", name: "x", within: 60_000 }, r).verdict).to.equal("pass");
    expect(judgeRpo({ kind: "rpo", name: "x", within: 40 }, r).verdict).to.equal("fail");
    delete r.sessions;
    expect(judgeRpo({ kind: "rpo", name: "x", within: 60_000 }, r).message).to.match(/no session audit/);
  });

  /** 40 s of turns; from the fault (10 s to 40 s) on, none acknowledged for `down` seconds */
  const withTurns = (down: number): RunRecord => {
    const r = record(series(during(60, healthy)));
    for (const b of r.series.load?.buckets ?? []) {
      const i = Math.floor((b.t - T0) / 1000);
      b.sessions = { writes: b.sent, acked: i >= 10 && i < 10 + down ? 0 : b.sent };
    }
    return r;
  };

  it("rto: writes back 7 s into the fault pass a 15 s limit; back only with the heal fail it, or say inconclusive when the fault was shorter than the limit", () => {
    const back = judgeRto({ kind: "rto", name: "x", fault: "f", within: 15_000, minSuccess: 0.95 }, withTurns(7));
    expect(back).to.include({ verdict: "pass", measured: 7000 });
    // the writes refused while the fault held: the 7 s with none acknowledged, of its 30 s
    const sentIn = (r: RunRecord, from: number, to: number): number => (r.series.load?.buckets ?? []).filter((b) => b.t >= T0 + from * 1000 && b.t < T0 + to * 1000).reduce((n, b) => n + b.sent, 0);
    const turns = withTurns(7);
    expect(back.message).to.include(`while it held ${sentIn(turns, 10, 17)} of ${sentIn(turns, 10, 40)} turns were refused (not acknowledged)`);
    expect(judgeRto({ kind: "rto", name: "x", fault: "f", within: 5000, minSuccess: 0.95 }, withTurns(7)).verdict).to.equal("fail");
    const never = judgeRto({ kind: "rto", name: "x", fault: "f", within: 15_000, minSuccess: 0.95 }, withTurns(30));
    expect(never.verdict).to.equal("fail");
    expect(never.message).to.match(/did not succeed again while f held/);
    expect(judgeRto({ kind: "rto", name: "x", fault: "f", within: 300_000, minSuccess: 0.95 }, withTurns(30)).verdict).to.equal("inconclusive");
    expect(judgeRto({ kind: "rto", name: "x", fault: "f", within: 15_000, minSuccess: 0.95 }, withTurns(0))).to.include({ verdict: "pass", measured: 0 });
  });
});
