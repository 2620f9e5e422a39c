import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { errorsOf, latencyOver } from "../../lib/schema/series.ts";
import type { LoadSeries } from "../../lib/schema/series.ts";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import { decided, runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { HEALTHY_ARGS, MISCONFIGURED, caughtBy, failedBesidesMaybe } from "../helpers/misconfigurations.ts";

const misconfigured = (experiment: string): string[] => MISCONFIGURED[experiment]?.args ?? [];

/**
 * Every shipped experiment, run as a user runs it against the local stack (time-scaled), proven
 * both ways: PASS on the default stack, and FAIL — on exactly the assertion that should catch it —
 * on a stack misconfigured for it. Before trusting the FAIL, each test measures from the raw
 * recorded data (not through the judge) that the misconfigured stack really misbehaved.
 */
async function run(file: string, args: string[], folder = "experiments"): Promise<{ code: number | null; record: RunRecord; out: string }> {
  return decided(file, () => runOnce(file, args, folder));
}

async function runOnce(file: string, args: string[], folder: string): Promise<{ code: number | null; record: RunRecord; out: string }> {
  const out = tempDir("exp");
  const r = await runCli(["run", `${folder}/${file}.yaml`, "--out", out, ...args]);
  const dir = readdirSync(out).find((d) => d.includes(file));
  if (dir === undefined) throw new Error(`no run folder: ${r.stderr.slice(-2000)}`);
  const record = JSON.parse(readFileSync(join(out, dir, "run.json"), "utf8")) as RunRecord;
  return { code: r.code, record, out: r.stderr };
}

function failing(record: RunRecord): string[] {
  return record.assertions.filter((a) => a.verdict === "fail").map((a) => a.name);
}

/** Error rate of the load in [from, to) ms after `t0`, straight from the buckets. */
function errorRate(record: RunRecord, t0: number, from: number, to: number): number {
  const bs = record.series.load?.buckets.filter((b) => b.t >= t0 + from && b.t < t0 + to) ?? [];
  const sent = bs.reduce((s, b) => s + b.sent, 0);
  return sent === 0 ? NaN : bs.reduce((s, b) => s + errorsOf(b.outcomes) + b.outcomes.dropped, 0) / sent;
}

const firedAlerts = (record: RunRecord): string[] =>
  record.timeline.filter((e) => e.type === "alert.firing").map((e) => String((e.data?.labels as Record<string, string>).alertname));

describe("shipped experiments against the local stack, proven both ways", function () {
  this.timeout(240_000);

  it("region-partition passes on the default stack", async () => {
    const { code, record, out } = await run("region-partition", ["--time-scale", "0.5"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    expect(code).to.equal(0);
    // the gateway's own record is in the timeline: each us-east server marked DOWN in the fault, UP after it
    const fault = record.faults[0];
    const marked = (type: string, from: number, to: number): string[] =>
      record.timeline.filter((e) => e.type === type && e.t >= from && e.t <= to).map((e) => String(e.data?.server)).sort();
    expect(marked("gateway.server-down", fault?.injectedAt ?? 0, fault?.revertedAt ?? 0)).to.deep.equal(["us-east-1", "us-east-2", "us-east-3"]);
    expect(marked("gateway.server-up", fault?.revertedAt ?? 0, record.endedAt ?? 0)).to.deep.equal(["us-east-1", "us-east-2", "us-east-3"]);
    // and its record per 100 ms: every request the clients sent, accepted (loopback loses none), and the failover
    // timed by the same rule from that side of the wire, within the limit too
    const sent = record.series.load?.buckets.reduce((n, b) => n + (b?.sent ?? 0), 0) ?? 0;
    const accepted = record.series.gateway?.buckets.reduce((n, b) => n + b.accepted, 0) ?? 0;
    expect(accepted / sent, `${accepted} accepted of ${sent} sent`).to.be.within(0.99, 1.01);
    const failover = record.assertions.find((a) => a.kind === "failover");
    expect(failover?.crossCheck?.measured, failover?.crossCheck?.message).to.be.a("number").and.at.most(failover?.limit ?? 0);
  });

  it("region-partition fails on us-east-failover-under-30s when detection is slowed and circuit breaking is off", async () => {
    const { code, record, out } = await run("region-partition", misconfigured("region-partition"));
    const t0 = record.faults[0]?.injectedAt ?? 0;
    // the misconfigured stack really misbehaves: 30 s into the partition clients still fail
    expect(errorRate(record, t0, 25_000, 30_000), "client error rate 25–30 s into the partition").to.be.above(0.05);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(code).to.equal(1);
    expect(failedBesidesMaybe("region-partition", failing(record))).to.deep.equal(caughtBy("region-partition"));
    // the gateway's own record agrees: by its side too, the failover did not hold within the limit
    const check = record.assertions.find((a) => a.kind === "failover")?.crossCheck;
    expect(check?.by, "a cross-check from the gateway's record").to.equal("gateway");
    expect(check?.measured === null || (check?.measured ?? 0) > 30_000, check?.message).to.equal(true);
  });

  it("standby-takeover passes: us-east and us-west dark together, eu-west serves", async () => {
    // at three fifths of the rate: on a two-core host the stack at 2,000 req/s has no core to spare, and eu-west alone
    // did not drain the dark seconds' backlog in 4 of 4 runs (2026-12-02, stop 33's note); at three quarters, on a fresh
    // machine of the same kind, 5 of 8 runs were inconclusive (the half-length fault's 12.5 s ended with eu-west's best
    // 5 s at 1.3-3.8 % errors) and at three fifths 2 of 2 passed (2026-12-03); the misconfigured run below stays at the
    // full rate, where the stuck queue shows at any rate
    const { record, out } = await run("standby-takeover", ["--time-scale", "0.5", "--rate-scale", "0.6"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("standby-takeover fails on standby-serves-within-30s when the gateway's stuck queue is left stuck", async () => {
    const { code, record, out } = await run("standby-takeover", ["--time-scale", MISCONFIGURED["standby-takeover"]?.timeScale ?? "1", ...misconfigured("standby-takeover")]);
    const t0 = record.faults[0]?.injectedAt ?? 0;
    // really an outage: HAProxy 2.6 answers 503 to nearly every request while eu-west sits idle
    expect(errorRate(record, t0, 8000, 30_000), "client error rate 8–30 s into the partition (it lasts 35 s)").to.be.above(0.9);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(code).to.equal(1);
    // The stuck queue can outlive the heal: measured once, the ~2,000 requests it held were handed to
    // the returning servers at once, the two cores ran flat out and HAProxy stopped answering its own
    // metrics for 12 s — so the recovery's checks may fail too; the baseline's may not.
    expect(failedBesidesMaybe("standby-takeover", failing(record))).to.deep.equal(caughtBy("standby-takeover"));
  });

  it("cross-region-latency passes: quiet below the SLO, HighP99Latency above it", async () => {
    const { record, out } = await run("cross-region-latency", ["--time-scale", "0.75"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("cross-region-latency fails on fires-above-slo (and only that) when the alert threshold is 5000 ms", async () => {
    const { record, out } = await run("cross-region-latency", ["--time-scale", "0.75", ...misconfigured("cross-region-latency")]);
    const above = record.faults.find((f) => f.name === "latency-above-slo");
    const w = { start: (above?.injectedAt ?? 0) + 5000, end: above?.revertedAt ?? 0 };
    const p99s = record.series.load?.buckets.filter((b) => b.t >= w.start && b.t < w.end).map((b) => b.lat?.p99 ?? 0) ?? [];
    // the stack really is slow: clients see p99 over the SLO, and yet no HighP99Latency fires
    expect(Math.max(...p99s), "client p99 above the SLO").to.be.above(500);
    expect(firedAlerts(record)).to.not.include("HighP99Latency");
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("cross-region-latency"));
  });

  it("node-loss passes: one zone of us-east lost, the SLO holds", async () => {
    const { record, out } = await run("node-loss", ["--time-scale", "0.5"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("node-loss fails on slo-holds (and only that) when the gateway neither retries nor notices dead replicas quickly", async () => {
    const { record, out } = await run("node-loss", ["--time-scale", "0.5", ...misconfigured("node-loss")]);
    const t0 = record.faults[0]?.injectedAt ?? 0;
    // the misconfigured stack really misbehaves: clients see the dead zone's share of requests fail
    expect(errorRate(record, t0, 0, 5000), "client error rate in the first 5 s of the zone loss").to.be.above(0.01);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("node-loss"));
  });

  it("hung-replica passes: one replica frozen, the requests caught on it retried elsewhere", async () => {
    const { record, out } = await run("hung-replica", ["--time-scale", "0.5"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("hung-replica fails on available-through-the-hang (and only that) when the gateway's per-try timeout outlasts the clients'", async () => {
    const { code, record, out } = await run("hung-replica", ["--time-scale", "0.5", ...misconfigured("hung-replica")]);
    const t0 = record.faults[0]?.injectedAt ?? 0;
    // really lost: the requests caught on the hung replica (up to its 192 connections) time out at the clients
    const timeouts = (record.series.load?.buckets ?? []).filter((b) => b.t >= t0 - 1000 && b.t < t0 + 3000).reduce((s, b) => s + b.outcomes.timeout, 0);
    expect(timeouts, "client timeouts for requests sent around the freeze").to.be.at.least(100);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record)).to.deep.equal(caughtBy("hung-replica"));
  });

  it("slow-replica passes: one replica 800 ms late on every answer, ejected by its response times alone", async () => {
    const { record, out } = await run("slow-replica", ["--time-scale", MISCONFIGURED["slow-replica"]?.timeScale ?? "1"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    // the gateway's record says who was ejected, and why
    const ejected = record.timeline.filter((e) => e.type === "gateway.server-ejected");
    expect(ejected.map((e) => e.data?.server)).to.include("us-east-1");
    expect(ejected.every((e) => e.data?.server === "us-east-1"), "only the slow replica").to.equal(true);
    expect(String(ejected[0]?.data?.reason)).to.match(/^slow: /);
  });

  it("slow-replica fails on ejected-within-5s (and only that) with slow-replica ejection off", async () => {
    const { code, record, out } = await run("slow-replica", ["--time-scale", MISCONFIGURED["slow-replica"]?.timeScale ?? "1", ...misconfigured("slow-replica")]);
    const f = record.faults[0];
    // really slow for clients, from the raw buckets: in the fault's second half more than 5 % of answers took ≥ 800 ms
    const from = (f?.injectedAt ?? 0) + 5000;
    const to = f?.revertedAt ?? 0;
    const q = latencyOver(record.series.load as LoadSeries, from, to);
    expect(q?.p95 ?? 0, "p95 of the fault's second half, ms").to.be.at.least(800);
    expect(record.timeline.filter((e) => e.type === "gateway.server-ejected"), "nobody ejected").to.deep.equal([]);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record)).to.deep.equal(caughtBy("slow-replica"));
  });

  // the stream-cut fault kind, with a test experiment (test/fixtures/experiments; not shipped, for make demo's 15 minutes), full length
  it("stream-cut (test experiment) passes: one replica's streams cut mid-way, the gateway ejects it for the broken answers", async () => {
    const { record, out } = await run("stream-cut", [], "test/fixtures/experiments");
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    const ejected = record.timeline.filter((e) => e.type === "gateway.server-ejected");
    expect(ejected[0]?.data?.server).to.equal("us-east-1");
    expect(String(ejected[0]?.data?.reason)).to.match(/^failure rate/);
  });

  it("stream-cut (test experiment) fails on us-east-1-cuts-contained and streams-delivered with outlier ejection off", async () => {
    const { code, record, out } = await run("stream-cut", ["--stack-set", "gateway.outlier.failureRatePct=100"], "test/fixtures/experiments");
    const f = record.faults[0];
    // really cut, from the raw buckets: in the fault's second half streams still break, and the clients counted the tokens they lost
    const half = (record.series.load?.buckets ?? []).filter((b) => b.t >= (f?.injectedAt ?? 0) + 6000 && b.t < (f?.revertedAt ?? 0));
    const cut = half.reduce((n, b) => n + b.outcomes.streamCut, 0);
    const sent = half.reduce((n, b) => n + b.sent, 0);
    expect(cut / sent, `${cut} of ${sent} streams cut`).to.be.at.least(0.03);
    expect(half.reduce((n, b) => n + (b.tokensLost ?? 0), 0), "tokens lost").to.be.at.least(cut);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record).sort()).to.deep.equal(["streams-delivered", "us-east-1-cuts-contained"]);
  });

  it("gpu-xid passes: a GPU's XID 79 pages on-call, and the gateway routes around its replica", async () => {
    const { record, out } = await run("gpu-xid", ["--time-scale", MISCONFIGURED["gpu-xid"]?.timeScale ?? "0.75"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    const f = record.faults[0];
    // the DCGM exporter's field, as the stack lane read it: one GPU with an XID while the fault held, none after
    const xids = (from: number, to: number): number[] => (record.series.stack ?? []).filter((s) => s.t >= from && s.t < to).map((s) => s.gpusWithXid ?? -1);
    expect(Math.max(...xids((f?.injectedAt ?? 0) + 2000, f?.revertedAt ?? 0))).to.equal(1);
    // cleared by the revert: the lane's samples from two scrapes after it (its recovery is 4.5 s at 0.75)
    expect(Math.max(...xids((f?.revertedAt ?? 0) + 2000, record.endedAt ?? 0))).to.equal(0);
    const paged = record.timeline.find((e) => e.type === "alert.delivered" && (e.data?.labels as Record<string, string>).alertname === "GPUXidError");
    expect(paged?.data?.receiver).to.equal("pager");
    expect(firedAlerts(record)).to.not.include("ServiceDown");
  });

  it("gpu-xid fails on xid-paged-us-east-1 (and only that) when critical alerts are routed to chat", async () => {
    const { code, record, out } = await run("gpu-xid", ["--time-scale", MISCONFIGURED["gpu-xid"]?.timeScale ?? "0.75", ...misconfigured("gpu-xid")]);
    // really misrouted: GPUXidError fired and reached chat, and nothing reached the pager
    const delivered = record.timeline.filter((e) => e.type === "alert.delivered" && (e.data?.labels as Record<string, string>).alertname === "GPUXidError");
    expect(delivered.map((e) => e.data?.receiver), out.slice(-1500)).to.include("chat");
    expect(record.timeline.filter((e) => e.type === "alert.delivered" && e.data?.receiver === "pager")).to.deep.equal([]);
    expect(record.verdict).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record)).to.deep.equal(caughtBy("gpu-xid"));
    expect(record.assertions.find((a) => a.name === "xid-paged-us-east-1")?.message).to.match(/routed to chat, not pager/);
  });

  // the engine's own signals, as the stack lane read them from the fault on (its long streams drain after the revert)
  const lane = (record: RunRecord, field: "kvCacheUsagePct" | "preemptionsPerSecond" | "ttftP99Ms"): number => {
    const from = record.faults[0]?.injectedAt ?? 0;
    return Math.max(0, ...(record.series.stack ?? []).filter((x) => x.t >= from).map((x) => x[field] ?? 0));
  };

  // at half the rate with half the KV cache (twice the MiB a token): half as many long requests fill a cache half the
  // size to the same share as the full rate fills the whole one; the shipped 2,000 req/s on a slower day
  // of a two-core host left the baseline broken before the ramp began (2026-12-03: the generator 708 ms late, aborted)
  const KV_AT_HALF = ["--rate-scale", "0.5", "--stack-set", "replica.kvCacheMiBPerToken=0.1"];

  it("kv-pressure passes: a ramping long-context workload fills us-east's KV caches, and KVCacheUsageHigh reaches chat before the clients' errors begin", async () => {
    const { record, out } = await run("kv-pressure", ["--time-scale", MISCONFIGURED["kv-pressure"]?.timeScale ?? "1", ...KV_AT_HALF]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    // really under pressure: a cache full, sequences preempted, time to first token grown past the baseline's ~50 ms
    expect(lane(record, "kvCacheUsagePct")).to.be.at.least(95);
    expect(lane(record, "preemptionsPerSecond")).to.be.above(0);
    expect(lane(record, "ttftP99Ms")).to.be.above(200);
    const warned = record.timeline.find((e) => e.type === "alert.delivered" && (e.data?.labels as Record<string, string>).alertname === "KVCacheUsageHigh");
    expect(warned?.data?.receiver).to.equal("chat");
  });

  it("kv-pressure fails on kv-warned-rag (and only that) with the KV alert's threshold at 100 %", async () => {
    const { code, record, out } = await run("kv-pressure", ["--time-scale", MISCONFIGURED["kv-pressure"]?.timeScale ?? "1", ...KV_AT_HALF, ...misconfigured("kv-pressure")]);
    // the same pressure (a cache full) and no warning at all
    expect(lane(record, "kvCacheUsagePct"), out.slice(-1500)).to.be.at.least(95);
    expect(firedAlerts(record)).to.not.include("KVCacheUsageHigh");
    expect(record.verdict).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record)).to.deep.equal(caughtBy("kv-pressure"));
    expect(record.assertions.find((a) => a.name === "kv-warned-rag")?.message).to.match(/never fired/);
  });

  it("retry-storm passes: lockstep client retries against a slow us-east stay within the gateway's retry budget", async () => {
    // at 60 % of the rate, as its misconfigured run was before: with the budget the storm still reaches ×1.2 (a ratio),
    // and at 1,000 req/s a slower day of the host held the generator's loop 3.4 s in the recovery, twice (CI, 2026-12-03)
    const { record, out } = await run("retry-storm", ["--time-scale", "0.5", "--rate-scale", "0.6"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("retry-storm fails on retries-within-budget with the retry budget and the per-replica connection limit off (and on the steady state after the heal only if the storm outlasts it)", async () => {
    const { record, out } = await run("retry-storm", ["--time-scale", "0.5", ...misconfigured("retry-storm")]);
    // really amplified, from the raw series: in the fault's middle the replicas received well past the assertion's ×1.5
    // what clients meant to send (measured ×2.04 on an idle host, ×1.93 in a CI run on a slower one; ×1.2 with the budget on)
    const f = record.faults[0];
    const from = (f?.injectedAt ?? 0) + 3000;
    const to = (f?.revertedAt ?? 0) - 1000;
    const meant = (record.series.load?.buckets ?? []).filter((b) => b.t >= from && b.t < to).reduce((n, b) => n + b.sent, 0);
    const reached = (record.series.stack ?? []).filter((x) => x.t >= from && x.t < to).reduce((n, x) => n + (x.replicaRequestsPerSecond ?? 0), 0);
    expect(reached / meant, `${reached} reached the replicas for ${meant} meant`).to.be.at.least(1.7);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failedBesidesMaybe("retry-storm", failing(record))).to.deep.equal(caughtBy("retry-storm"));
  });

  it("capacity-cascade passes: us-east dark at a rate us-west cannot carry alone, the standby takes the excess", async () => {
    const { record, out } = await run("capacity-cascade", ["--time-scale", "0.5"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    const f = record.faults[0];
    const spilled = (record.series.load?.buckets ?? []).filter((b) => b.t >= (f?.injectedAt ?? 0) && b.t < (f?.revertedAt ?? 0)).reduce((n, b) => n + (b.regions["eu-west"] ?? 0), 0);
    expect(spilled, "requests eu-west served while us-east was dark").to.be.above(500);
  });

  it("capacity-cascade fails on us-west-unharmed and slo-kept-after-failover with spill-over off", async () => {
    const { record, out } = await run("capacity-cascade", ["--time-scale", MISCONFIGURED["capacity-cascade"]?.timeScale ?? "1", ...misconfigured("capacity-cascade")]);
    // really cascaded, from the raw series: us-west alone shed more than 5 % of the requests in the fault's second half
    const f = record.faults[0];
    const mid = ((f?.injectedAt ?? 0) + (f?.revertedAt ?? 0)) / 2;
    const bs = (record.series.load?.buckets ?? []).filter((b) => b.t >= mid && b.t < (f?.revertedAt ?? 0));
    const shed = bs.reduce((n, b) => n + b.outcomes.s429, 0) / bs.reduce((n, b) => n + b.sent, 0);
    expect(shed, "429 share in the fault's second half").to.be.above(0.05);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("capacity-cascade"));
  });

  it("traffic-surge passes: TrafficAnomaly and QueueDepthHigh fire, the replicas shed the excess, goodput stays at capacity", async () => {
    const { record, out } = await run("traffic-surge", ["--time-scale", MISCONFIGURED["traffic-surge"]?.timeScale ?? "0.75", ...(HEALTHY_ARGS["traffic-surge"] ?? [])]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    // the experiment's own stack settings are in the timeline, and --stack-set overrode the window
    expect(record.timeline.find((e) => e.type === "stack.settings")?.message).to.match(/alerts\.trafficAnomalyWindowSeconds=20/);
    expect((record.environment?.stackConfig as { alerts: { trafficAnomalyWindowSeconds: number } }).alerts.trafficAnomalyWindowSeconds).to.equal(15);
  });

  it("traffic-surge fails on p99-while-surging (and only that) with load shedding off", async () => {
    const { record, out } = await run("traffic-surge", ["--time-scale", MISCONFIGURED["traffic-surge"]?.timeScale ?? "0.75", ...misconfigured("traffic-surge")]);
    // really queued, from the raw lane: over a thousand requests waiting across the fleet during the surge
    const f = record.faults[0];
    const queued = (record.series.stack ?? []).filter((x) => x.t >= (f?.injectedAt ?? 0) && x.t < (f?.revertedAt ?? 0)).map((x) => x.replicaQueued ?? 0);
    expect(Math.max(...queued), `queued ${queued.join(" ")}`).to.be.above(1000);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("traffic-surge"));
  });

  it("gpu-oom passes: early warning, OOM detected, routed around, the replica serves again", async () => {
    const { record, out } = await run("gpu-oom", ["--time-scale", "0.75"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("gpu-oom fails on early-warning (and only that) when GPUMemoryHigh is set past 100 %", async () => {
    const { record, out } = await run("gpu-oom", ["--time-scale", "0.75", ...misconfigured("gpu-oom")]);
    // it really ran out of memory, with no warning first
    expect(firedAlerts(record)).to.include("GPUOutOfMemory");
    expect(firedAlerts(record)).to.not.include("GPUMemoryHigh");
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("gpu-oom"));
  });

  it("bad-rollout passes: rolled back, CanaryRolledBack, back to baseline", async () => {
    const { record, out } = await run("bad-rollout", ["--time-scale", "0.5"]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("bad-rollout fails on rolled-back (and only that) when automatic rollback is off", async () => {
    const { record, out } = await run("bad-rollout", ["--time-scale", "0.5", ...misconfigured("bad-rollout")]);
    // the controller really left the regressed canary in place: it paused and never rolled back
    // (clients may not see it: the gateway's outlier ejection routes around a canary with 20 % errors)
    const types = record.timeline.map((e) => e.type);
    expect(types).to.include("rollout.paused");
    expect(types).to.not.include("rollout.rolled-back");
    expect(record.series.load?.buckets.some((b) => (b.versions["sim-7b:v2-bad"] ?? 0) > 0), "v2-bad served some requests").to.equal(true);
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("bad-rollout"));
  });

  it("healthy-rollout passes: promoted to 100 %, no alert", async () => {
    const { record, out } = await run("healthy-rollout", ["--time-scale", "0.5", ...(HEALTHY_ARGS["healthy-rollout"] ?? [])]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
  });

  it("healthy-rollout fails on no-alerts (and only that) when HighP99Latency is set below the model's own latency", async () => {
    const { record, out } = await run("healthy-rollout", ["--time-scale", "0.5", ...(HEALTHY_ARGS["healthy-rollout"] ?? []), ...misconfigured("healthy-rollout")]);
    // the rollout itself went well, and yet an over-sensitive alert paged
    expect(record.timeline.map((e) => e.type)).to.include("rollout.promoted");
    expect(firedAlerts(record)).to.include("HighP99Latency");
    expect(record.verdict, out.slice(-1500)).to.equal("fail");
    expect(failing(record)).to.deep.equal(caughtBy("healthy-rollout"));
  });
});
