import { expect } from "chai";
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as hdr from "hdr-histogram-js";
import { judgeAll, steadyStateHolds } from "../../lib/judge/index.ts";
import { FROZEN_EVENT, guarded, instrumentDoubt } from "../../lib/judge/instrument.ts";
import type { Freeze } from "../../lib/judge/instrument.ts";
import { freezeBetween, startHostMonitor } from "../../lib/observe/host.ts";
import { Experiment } from "../../lib/schema/experiment.ts";
import type { AssertionResult, HostSample, RunRecord } from "../../lib/schema/run-record.ts";
import { BUCKET_MS, emptyOutcomes, newHistogram, quantiles } from "../../lib/schema/series.ts";
import type { LoadBucket } from "../../lib/schema/series.ts";
import { ownHelpers, procStat } from "../../lib/proc/group.ts";
import { parseStolenMs } from "../../lib/stack/haproxy-api.ts";
import { startTarget } from "../../lib/targets/index.ts";
import { tempDir } from "../helpers/fixtures.ts";

const T0 = Date.UTC(2026, 10, 30, 12);

/** 10 s of load at `perBucket` requests per 100 ms, each with latency `ms(i)`, and the generator's lag per bucket. */
function record(o: { perBucket?: number; ms?: (i: number) => number; lag?: (i: number) => number; loop?: (i: number) => number; timeouts?: (i: number) => number; timeoutMs?: number; host?: HostSample[] } = {}): RunRecord {
  const per = o.perBucket ?? 20;
  const buckets: LoadBucket[] = [];
  for (let i = 0; i < 100; i++) {
    const h = newHistogram();
    for (let k = 0; k < per; k++) h.recordValue(Math.round((o.ms?.(i) ?? 50) * 1000));
    const lag = o.lag?.(i) ?? 2;
    const timeout = o.timeouts?.(i) ?? 0;
    buckets.push({ t: T0 + i * BUCKET_MS, sent: per, outcomes: { ...emptyOutcomes(), ok: per - timeout, timeout }, lat: quantiles(h), latHdr: hdr.encodeIntoCompressedBase64(h), ttft: null, itl: null, regions: { "us-east": per }, versions: {}, gen: { lagMs: lag, loopMs: o.loop?.(i) ?? 0 } });
    h.destroy();
  }
  return {
    schemaVersion: 1,
    runId: "r",
    experiment: { name: "e" },
    target: { name: "t" },
    startedAt: T0,
    endedAt: T0 + 10_000,
    timeScale: 1,
    phases: [{ name: "baseline", start: T0, end: T0 + 10_000 }],
    faults: [],
    assertions: [],
    timeline: [],
    series: { probes: {}, load: { version: 1, engine: "builtin", bucketMs: BUCKET_MS, start: T0, targetRate: per * 10, buckets }, host: o.host ?? [] },
    ...(o.timeoutMs !== undefined ? { spec: { load: { timeout: o.timeoutMs } } } : {}),
  };
}

const exp = (extra: Record<string, unknown>): Experiment => Experiment.parse({ apiVersion: "faultline.dev/v1", kind: "Experiment", metadata: { name: "e" }, load: { rate: 200 }, ...extra });
const W = { start: T0, end: T0 + 10_000 };

describe("the instrument watched: inconclusive when it cannot tell (pure)", () => {
  it("a generator stall that could decide a failed p99 makes it inconclusive; a pass despite it stands; one too short to decide does not count", () => {
    // 1 s of the 10 s (10 %) sent up to a second late, and measured that slow
    const stalled = record({ lag: (i) => (i >= 40 && i < 50 ? 1000 : 2), ms: (i) => (i >= 40 && i < 50 ? 1050 : 50) });
    expect(instrumentDoubt(stalled, W, { latency: 0.99 }, true)).to.match(/load generator was late on 10\.0% of the window's requests \(up to 1000 ms at \+4\.0s; bound 100 ms\)/);
    // a median is decided by the middle, not by a tenth late
    expect(instrumentDoubt(stalled, W, { latency: 0.5 }, true)).to.equal(undefined);
    // outcomes (error rates) do not depend on when requests left
    expect(instrumentDoubt(stalled, W, "outcomes", true)).to.equal(undefined);
    // measured from the scheduled send time, lateness only adds latency: a p99 that held anyway held
    expect(instrumentDoubt(stalled, W, { latency: 0.99 }, false)).to.equal(undefined);
    expect(judgeAll(exp({ assertions: [{ kind: "slo", name: "p99-under-2s", during: "baseline", p99: "2s" }] }), stalled)[0]?.verdict).to.equal("pass");
    const [slo] = judgeAll(exp({ assertions: [{ kind: "slo", name: "p99-under-500", during: "baseline", p99: "500ms" }] }), stalled);
    expect(slo?.verdict).to.equal("inconclusive");
    expect(slo?.message).to.match(/^inconclusive: the load generator was late .*; the check alone said fail: broken during baseline/);
    const brief = record({ lag: (i) => (i === 40 ? 300 : 2), ms: (i) => (i === 40 ? 350 : 50) });
    expect(judgeAll(exp({ assertions: [{ kind: "slo", name: "p99", during: "baseline", p99: "500ms" }] }), brief)[0]?.verdict).to.equal("pass");
  });

  it("a check whose failure its outcomes decided (a failover that never got its errors down) stays failed through a generator stall", () => {
    const stalled = record({ lag: (i) => (i >= 40 && i < 50 ? 1000 : 2), ms: (i) => (i >= 40 && i < 50 ? 1050 : 50) });
    const failed: AssertionResult = { name: "f", kind: "failover", verdict: "fail", measured: null, limit: 30_000, window: W, message: "failover never settled", evidence: [] };
    expect(guarded(failed, stalled, { latency: 0.99 }).verdict, "a p99 could have decided it").to.equal("inconclusive");
    expect(guarded({ ...failed, evidence: [{ decidedBy: "outcomes" }] }, stalled, { latency: 0.99 }).verdict).to.equal("fail");
  });

  it("timeouts while the generator's loop was held for half their timeout are inconclusive; with it healthy, or held briefly against a long timeout, they fail", () => {
    const steady = exp({ steadyState: { thresholds: ["http_req_failed: rate < 0.01"] } });
    // 2 s of requests timing out (20 % of the window), the loop held 1.2 s in their first half; 1 s timeouts: those
    // due up to 1 s before the hold began and until it ended (+3.5 to +5.1 s: 12 % of the window) may be its own
    const timeouts = (i: number): number => (i >= 40 && i < 60 ? 20 : 0);
    const held = record({ timeouts, loop: (i) => (i >= 45 && i < 52 ? 1200 : 0), timeoutMs: 1000 });
    const s = steadyStateHolds(steady, held, W);
    expect(s.holds).to.equal(false);
    expect(s.inconclusive).to.match(/^240 of the window's 2000 requests \(12\.0%\) timed out while the load generator's loop was held for at least half their timeout \(up to 1200 ms at \+4\.5s\)/);
    // the same timeouts, the generator never held: the system's, and the message says what the failures were
    const theirs = steadyStateHolds(steady, record({ timeouts, timeoutMs: 1000 }), W);
    expect(theirs.inconclusive).to.equal(undefined);
    expect(theirs.messages).to.deep.equal(["http_req_failed: rate < 0.01: measured 20.00% (timed out 400)"]);
    // held 1.2 s against 10 s timeouts: an answer needed 8.8 s to miss them, which is the system's
    expect(steadyStateHolds(steady, record({ timeouts, loop: (i) => (i >= 45 && i < 52 ? 1200 : 0), timeoutMs: 10_000 }), W).inconclusive).to.equal(undefined);
    // held after the timeouts, not before them: theirs were decided already
    expect(steadyStateHolds(steady, record({ timeouts, loop: (i) => (i >= 75 && i < 80 ? 1200 : 0), timeoutMs: 1000 }), W).inconclusive).to.equal(undefined);
  });

  it("the same latency with a healthy generator fails: the system is blamed when the instrument was fine", () => {
    const slowSystem = record({ ms: (i) => (i >= 40 && i < 50 ? 1050 : 50) });
    const [slo] = judgeAll(exp({ assertions: [{ kind: "slo", name: "p99-under-500", during: "baseline", p99: "500ms" }] }), slowSystem);
    expect(slo?.verdict).to.equal("fail");
  });

  it("a starved host turns a failure inconclusive, never a pass", () => {
    const host = Array.from({ length: 10 }, (_, i) => ({ t: T0 + i * 1000 + 500, cores: 2, busy: i < 3 ? 2 : 0.8, own: 0.3, sut: 0.4, other: i < 3 ? 1.3 : 0.1 }));
    const r = record({ host });
    const failed: AssertionResult = { name: "x", kind: "traffic-split", verdict: "fail", measured: 0.5, limit: 0.7, window: W, message: "split off", evidence: [] };
    expect(guarded(failed, r, "outcomes").verdict).to.equal("inconclusive");
    expect(guarded(failed, r, "outcomes").message).to.match(/the host was starved: other work took up to 1\.3 cores at \+0\.5s for 30% of the window/);
    expect(guarded({ ...failed, verdict: "pass" }, r, "outcomes").verdict).to.equal("pass");
    // a short burst of other work is not starvation
    const burst = record({ host: host.map((s, i) => ({ ...s, busy: i === 0 ? 2 : 0.8, other: i === 0 ? 1.3 : 0.1 })) });
    expect(guarded(failed, burst, "outcomes").verdict).to.equal("fail");
  });

  it("a host out of CPU before any fault and in the window turns a failure inconclusive; one saturated only after the baseline stays the system's", () => {
    // as in make demo on a slow day (bench:stack 2,863 req/s against 6,361 an hour before): 2,000 req/s used the whole host from the warm-up on
    const sample = (i: number, busy: number): HostSample => ({ t: T0 + i * 1000 + 500, cores: 2, busy, own: 0.4, sut: busy - 0.4, other: 0 });
    const failed: AssertionResult = { name: "x", kind: "slo", verdict: "fail", measured: 700, limit: 500, window: W, message: "p99 over", evidence: [] };
    const saturated = record({ host: Array.from({ length: 10 }, (_, i) => sample(i, i < 3 ? 1.7 : 1.98)) });
    expect(guarded(failed, saturated, "outcomes").verdict).to.equal("inconclusive");
    expect(guarded(failed, saturated, "outcomes").message).to.match(/the host ran out of CPU: its 2 cores were 95% busy or more for 70% of the baseline \(the system under test 1\.6 and faultline 0\.4 of them, medians\)/);
    expect(guarded({ ...failed, verdict: "pass" }, saturated, "outcomes").verdict, "a system that held on a full host held").to.equal("pass");
    // the baseline had room, the fault's window did not: the fault made the system burn the host (a retry storm): the system's
    const later = record({ host: Array.from({ length: 10 }, (_, i) => sample(i, i < 5 ? 1.4 : 2)) });
    later.phases = [
      { name: "baseline", start: T0, end: T0 + 5000 },
      { name: "fault", start: T0 + 5000, end: T0 + 10_000 },
    ];
    const inFault = { ...failed, window: { start: T0 + 5000, end: T0 + 10_000 } };
    expect(guarded(inFault, later, "outcomes").verdict).to.equal("fail");
    // both saturated: the host's limit as much as the system's
    const both = record({ host: Array.from({ length: 10 }, (_, i) => sample(i, 1.99)) });
    both.phases = later.phases;
    expect(guarded(inFault, both, "outcomes").message).to.match(/for 100% of the window and 100% of the baseline/);
    // a busy host with room left is not out of CPU
    expect(guarded(failed, record({ host: Array.from({ length: 10 }, (_, i) => sample(i, 1.85)) }), "outcomes").verdict).to.equal("fail");
  });

  it("HAProxy's count of the CPU the host kept from it is read from `show activity`", () => {
    expect(parseStolenMs("loops: 2 [ 1 1 ]\ncpust_ms_tot: 1662 [ 1600 62 ]\ncpust_ms_1s: 54 [ 50 4 ]\n")).to.equal(1662);
    expect(parseStolenMs("loops: 2 [ 1 1 ]\n")).to.equal(undefined);
  });

  it("a frozen host (a paused VM, a stepped clock) decides no check after it, pass or fail; one before it stands, and so does a lost turn", () => {
    // as seen here: the VM paused for 21.3 s at +4 s, its monotonic clock standing still
    const paused: Freeze = { from: T0 + 4000, to: T0 + 25_300, wallMs: 21_300, monoMs: 1000 };
    const r = record();
    r.timeline.push({ t: paused.to, type: FROZEN_EVENT, message: "", data: { ...paused } });
    const result = (verdict: "pass" | "fail", w = W): AssertionResult => ({ name: "x", kind: "traffic-split", verdict, measured: 0.5, limit: 0.7, window: w, message: "split", evidence: [] });
    for (const verdict of ["pass", "fail"] as const) {
      const g = guarded(result(verdict), r, "outcomes");
      expect(g.verdict).to.equal("inconclusive");
      expect(g.message).to.match(new RegExp(`^inconclusive: the host's wall clock went 21\\.3s and its monotonic clock 1\\.0s between two samples a second apart: the machine \\(a VM\\) was paused.*; the check alone said ${verdict}: split$`));
    }
    // a window after it: the series, timed by the monotonic clock, is 20 s off from then on
    expect(guarded(result("pass", { start: T0 + 40_000, end: T0 + 50_000 }), r, "outcomes").verdict).to.equal("inconclusive");
    // a window over before it began is untouched
    expect(guarded(result("fail", { start: T0, end: T0 + 3000 }), r, "outcomes").verdict).to.equal("fail");
    // a check no instrument can decide (an acknowledged turn missing from the store) stays the system's
    expect(guarded({ ...result("fail"), kind: "rpo" }, r, undefined).verdict).to.equal("fail");
    // the steady state is neither held nor broken
    const s = steadyStateHolds(exp({ steadyState: { thresholds: ["http_req_failed: rate < 0.01"] } }), r, W);
    expect(s).to.deep.include({ holds: false });
    expect(s.inconclusive).to.match(/paused and resumed, or its clock was stepped/);
    // a late tick with the clocks together (a pause both clocks counted) doubts only the windows it falls in
    const late: Freeze = { from: T0 + 4000, to: T0 + 9000, wallMs: 5000, monoMs: 5000 };
    const r2 = record();
    r2.timeline.push({ t: late.to, type: FROZEN_EVENT, message: "", data: { ...late } });
    expect(guarded(result("pass", { start: T0 + 3000, end: T0 + 5000 }), r2, "outcomes").message).to.match(/^inconclusive: faultline's main thread did not run for 5\.0s/);
    expect(guarded(result("pass", { start: T0 + 9500, end: T0 + 12_000 }), r2, "outcomes").verdict).to.equal("pass");
  });

  it("the host sampler tells a freeze from ticks a second apart: a late tick, or the two clocks parting", async () => {
    expect(freezeBetween({ wall: 0, mono: 0 }, { wall: 1010, mono: 1008 })).to.equal(undefined);
    expect(freezeBetween({ wall: 0, mono: 0 }, { wall: 22_300, mono: 1000 })).to.deep.equal({ from: 0, to: 22_300, wallMs: 22_300, monoMs: 1000 });
    expect(freezeBetween({ wall: 0, mono: 0 }, { wall: 4000, mono: 4000 })).to.deep.include({ wallMs: 4000 });
    expect(freezeBetween({ wall: 0, mono: 0 }, { wall: 1000, mono: 2500 }), "a wall clock stepped back").to.deep.include({ monoMs: 2500 });
    // the monitor itself, its clocks made to jump 20 s between its first two ticks
    let jump = 0;
    const clocks = { wall: () => Date.now() + jump, mono: () => performance.now() };
    const seen: Freeze[] = [];
    const m = startHostMonitor([], () => undefined, undefined, (f) => seen.push(f), clocks);
    await new Promise((r) => setTimeout(r, 1500));
    jump = 20_000;
    await new Promise((r) => setTimeout(r, 1100));
    m.stop();
    expect(seen).to.have.length(1);
    expect(seen[0]?.wallMs).to.be.within(20_500, 21_500);
    expect(seen[0]?.monoMs).to.be.within(500, 1500);
  });

  it("the host sampler counts faultline's processes apart from this one (the generator in a session of its own) as its own, not as other work", async () => {
    const spin = spawn(process.execPath, ["-e", "const end=Date.now()+5000;while(Date.now()<end);"], { stdio: "ignore" });
    const pid = spin.pid ?? 0;
    const samples: HostSample[] = [];
    ownHelpers.add(pid);
    const m = startHostMonitor(samples, () => []);
    try {
      await new Promise((r) => setTimeout(r, 2300));
      ownHelpers.delete(pid);
      await new Promise((r) => setTimeout(r, 2100));
    } finally {
      m.stop();
      ownHelpers.delete(pid);
      spin.kill();
    }
    const [a, b, c, d] = samples;
    expect(samples.length, JSON.stringify(samples)).to.be.at.least(4);
    // the first two seconds: the spinning helper is faultline's own; then it is other work
    expect(Math.min(a?.own ?? 0, b?.own ?? 0), JSON.stringify(samples)).to.be.at.least(0.5);
    expect(Math.max(c?.own ?? 1, d?.own ?? 1), JSON.stringify(samples)).to.be.below(0.3);
    expect(Math.min(c?.other ?? 0, d?.other ?? 0), JSON.stringify(samples)).to.be.at.least(0.5);
  });

  it("an acknowledged turn lost is the system's whatever the host's load: rpo is never made inconclusive", () => {
    const host = Array.from({ length: 10 }, (_, i) => ({ t: T0 + i * 1000 + 500, cores: 2, busy: 2, own: 0.3, sut: 0.4, other: 1.3 }));
    const r = record({ host, lag: () => 400 });
    r.sessions = { checkedAt: T0 + 11_000, sessions: 50, acknowledged: 2000, lost: 3, lostTurns: [{ session: "s1", turn: 4, t: T0 + 5000 }], recoveryPoint: T0 + 4000, newestLost: T0 + 5000, rpoMs: 1000 };
    const [rpo] = judgeAll(exp({ assertions: [{ kind: "rpo", name: "nothing-lost", within: "1m", maxLost: 0 }] }), r);
    expect(rpo?.verdict, rpo?.message).to.equal("fail");
  });

  it("too few samples for the percentile asked is inconclusive, not a pass", () => {
    // 10 s at 5 requests a second: 50 samples, and a p99 needs 100
    const sparse = record({ perBucket: 0 });
    sparse.series.load?.buckets.forEach((b, i) => {
      if (i % 2 === 0) return;
      const h = newHistogram();
      h.recordValue(50_000);
      Object.assign(b, { sent: 1, outcomes: { ...emptyOutcomes(), ok: 1 }, lat: quantiles(h), latHdr: hdr.encodeIntoCompressedBase64(h) });
      h.destroy();
    });
    const results = judgeAll(exp({ assertions: [{ kind: "slo", name: "p99", during: "baseline", p99: "500ms" }, { kind: "threshold", name: "t99", threshold: "http_req_duration: p(99) < 500ms", during: "baseline" }, { kind: "slo", name: "p50", during: "baseline", p50: "500ms" }] }), sparse);
    expect(results.map((r) => [r.name, r.verdict])).to.deep.equal([["p99", "inconclusive"], ["t99", "inconclusive"], ["p50", "pass"]]);
    expect(results[1]?.message).to.match(/too few samples: 50 requests in the window, a p99 needs at least 100/);
  });

  it("a window in which the generator sent nothing is inconclusive; one whose requests were sent and never answered fails", () => {
    // the generator fell silent for the last 5 s (measured: a host paused for 21 s in a bench run)
    const silent = record();
    silent.phases = [{ name: "baseline", start: T0, end: T0 + 5000 }, { name: "recovery", start: T0 + 5000, end: T0 + 10_000 }];
    const load = silent.series.load;
    if (load === undefined) throw new Error("no load");
    load.buckets = load.buckets.slice(0, 50);
    const e = exp({ steadyState: { thresholds: ["http_req_failed: rate < 0.01", "http_req_duration: p(99) < 500ms"] }, assertions: [{ kind: "slo", name: "slo", during: "recovery", availability: 0.99 }, { kind: "threshold", name: "t", threshold: "http_req_failed: rate < 0.01", during: "recovery" }] });
    const results = judgeAll(e, silent);
    expect(results.map((r) => [r.name, r.verdict])).to.deep.equal([["steady-state-after-recovery", "inconclusive"], ["slo", "inconclusive"], ["t", "inconclusive"]]);
    expect(results[0]?.message).to.match(/the load generator sent no request in the window \(\+7\.5s to \+10\.0s of the load\)/);
    expect(results[0]?.message).to.match(/; the last request it had sent was due at \+4\.9s: it was behind its schedule or stalled, so/);
    // the same 5 s with requests sent that no answer ever completed: the system's silence, a failure
    const unanswered = record();
    unanswered.phases = silent.phases;
    for (const b of unanswered.series.load?.buckets.slice(50) ?? []) Object.assign(b, { outcomes: emptyOutcomes(), lat: null, latHdr: undefined });
    expect(judgeAll(e, unanswered).map((r) => [r.name, r.verdict])).to.deep.equal([["steady-state-after-recovery", "fail"], ["slo", "fail"], ["t", "fail"]]);
    expect(steadyStateHolds(e, unanswered, { start: T0 + 5000, end: T0 + 10_000 }).messages[0]).to.equal("http_req_failed: rate < 0.01: none of the 1000 requests sent in the window was answered within it");
    // and unanswered while other work starved the host: the steady state cannot be laid on the system
    unanswered.series.host = Array.from({ length: 10 }, (_, i) => ({ t: T0 + i * 1000 + 500, cores: 2, busy: 2, own: 0.3, sut: 0.9, other: 0.8 }));
    const starved = steadyStateHolds(e, unanswered, { start: T0 + 5000, end: T0 + 10_000 });
    expect(starved.holds).to.equal(false);
    expect(starved.inconclusive).to.match(/the host was starved: other work took up to 0\.8 cores/);
  });

  it("a steady state broken by the generator is inconclusive; broken by the system, it is broken", () => {
    const e = exp({ steadyState: { thresholds: ["http_req_duration: p(99) < 500ms"] } });
    const stalled = record({ lag: (i) => (i >= 40 && i < 50 ? 1000 : 2), ms: (i) => (i >= 40 && i < 50 ? 1050 : 50) });
    const s = steadyStateHolds(e, stalled, W);
    expect(s.holds).to.equal(false);
    expect(s.inconclusive).to.match(/load generator was late/);
    const system = steadyStateHolds(e, record({ ms: (i) => (i >= 40 && i < 50 ? 1050 : 50) }), W);
    expect(system.holds).to.equal(false);
    expect(system.inconclusive).to.equal(undefined);
  });
});

describe("instrument: whose CPU the host's busy cores are", () => {
  const TARGET = "apiVersion: faultline.dev/v1\nkind: Target\nmetadata: {name: t}\nendpoints: {gateway: {url: 'http://127.0.0.1:1'}}\n";
  const ownGroup = (): number => procStat(process.pid)?.pgrp ?? -1;

  it("a target file that `stack up` or `k8s up` wrote counts the process groups beside it as the system, not as other work", async () => {
    const dir = tempDir("unit-target");
    try {
      writeFileSync(join(dir, "target.yaml"), TARGET);
      writeFileSync(join(dir, "cluster.pgid"), `${ownGroup()}\n`);
      const beside = await startTarget({ ref: join(dir, "target.yaml"), runDir: dir, runId: "unit" });
      expect(beside.processGroups?.()).to.deep.equal([ownGroup()]);
      // a file of its own whose system is on loopback: on this host, its processes unknown, so none is called other work
      rmSync(join(dir, "cluster.pgid"));
      const unknown = await startTarget({ ref: join(dir, "target.yaml"), runDir: dir, runId: "unit" });
      expect(unknown.processGroups?.()).to.equal(undefined);
      // a file that names a system elsewhere: nothing on this host is the system's
      writeFileSync(join(dir, "target.yaml"), TARGET.replace("127.0.0.1", "inference.example.internal"));
      const elsewhere = await startTarget({ ref: join(dir, "target.yaml"), runDir: dir, runId: "unit" });
      expect(elsewhere.processGroups?.()).to.deep.equal([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
