import { expect } from "chai";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import { decided, runCli, startCli, waitFor, waitForJournal } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { MISCONFIGURED } from "../helpers/misconfigurations.ts";
import { promQuery, startStack } from "../helpers/stack.ts";

/**
 * Session state on a real Redis (three nodes, three Sentinels, every path through Toxiproxy):
 * session-failover proven both ways, time-scaled (its limits are not: Sentinel's 5 s and the
 * 1.5 s replication delay are the store's own), and a killed run recovered.
 */
describe("session state across regions: RPO and RTO on a real Redis", function () {
  this.timeout(300_000);

  const SHIPPED = "experiments/session-failover.yaml";
  const LAG = "experiments/replication-lag.yaml";
  const HALF = ["--time-scale", MISCONFIGURED["session-failover"]?.timeScale ?? "0.5"];
  // Every run here at three quarters of the rate: at 2,000 req/s these runs kept the host 1.5-1.75 of its
  // 2 cores busy, and in CI on 2026-12-03 a stretch where they took 1.9 (faultline 0.30-0.37 cores against
  // 0.20-0.25, the stack 1.4-1.5 against 1.3-1.45, other work under 0.1 on average) aborted or left
  // inconclusive the quorum, replication-lag and SIGKILL tests, each twice. What they check does not
  // depend on the rate: a failover, a lag, a heal. (SUITE_MAX_RATE in test/helpers/cli.ts lowers it to 1,000 req/s.)
  const THREE_QUARTERS = ["--rate-scale", "0.75"];
  const run = (args: string[], file = SHIPPED): Promise<{ code: number | null; record: RunRecord; out: string }> => decided(file, () => runOnce(args, file));
  const runOnce = async (args: string[], file: string): Promise<{ code: number | null; record: RunRecord; out: string }> => {
    const out = tempDir("sessions");
    const r = await runCli(["run", file, "--out", out, ...args]);
    const d = readdirSync(out).find((x) => existsSync(join(out, x, "run.json")));
    if (d === undefined) throw new Error(`no run: ${r.stderr.slice(-2000)}`);
    return { code: r.code, record: JSON.parse(readFileSync(join(out, d, "run.json"), "utf8")) as RunRecord, out: r.stderr };
  };
  const failing = (r: RunRecord): string[] => r.assertions.filter((a) => a.verdict !== "pass").map((a) => a.name);
  // revertedAt is stamped once every action is reverted, one after another; the heal begins with the first of them
  const partition = (r: RunRecord): { injectedAt: number; revertedAt: number; healingAt: number } => {
    const f = r.faults.find((x) => x.name === "partition-us-east");
    const first = Math.min(...(f?.actions ?? []).map((a) => a.revertedAt ?? Infinity));
    return { injectedAt: f?.injectedAt ?? 0, revertedAt: f?.revertedAt ?? 0, healingAt: Number.isFinite(first) ? first : (f?.revertedAt ?? 0) };
  };
  const acked = (r: RunRecord, from: number, to: number): { writes: number; acked: number } =>
    (r.series.load?.buckets ?? []).filter((b) => b.t >= from && b.t < to).reduce((s, b) => ({ writes: s.writes + (b.sessions?.writes ?? 0), acked: s.acked + (b.sessions?.acked ?? 0) }), { writes: 0, acked: 0 });

  it("session-failover passes: Sentinel promotes a replica, writes come back while us-east is dark, no acknowledged turn lost", async () => {
    // at three quarters of the rate: the healthy failover on a two-core host with no core to spare at 2,000 req/s
    // failed its recovery in 3 of 3 runs on 2026-12-02 (p99 2.7-2.8 s after the heal: stop 33's note)
    const { record, out } = await run([...HALF, ...THREE_QUARTERS]);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    // thousands: a quarter of the requests are turns, ~4,700 in the run at 1,000 req/s
    expect(record.sessions?.acknowledged, "turns acknowledged").to.be.above(2500);
    expect(record.sessions?.lost).to.equal(0);
    const promoted = record.timeline.find((e) => e.type === "session.primary");
    expect(promoted?.data?.server).to.be.oneOf(["redis-us-west", "redis-eu-west"]);
    const p = partition(record);
    expect(promoted?.t).to.be.within(p.injectedAt, p.revertedAt);
    // from the clients' own counts: from a second after the promotion to the heal, turns were acknowledged
    // again (the clients re-resolve the primary within that second: measured a 0.3 s dip at +8.0 s, promoted at +8.4 s)
    const from = (promoted?.t ?? p.revertedAt) + 1000;
    expect(p.revertedAt - from, "time left between promotion and heal").to.be.at.least(2000);
    const late = acked(record, from, p.revertedAt);
    expect(late.acked / late.writes, `${late.acked} of ${late.writes}`).to.be.above(0.95);
  });

  it("fails on rpo (and only that) when a turn is acknowledged on the primary's word alone (session.waitReplicas=0): acknowledged turns really lost", async () => {
    const { code, record, out } = await run([...HALF, ...(MISCONFIGURED["session-failover"]?.args ?? [])]);
    const p = partition(record);
    // measured first: hundreds of turns acknowledged to clients and gone, all from the replication delay just before the partition
    expect(record.sessions?.lost, out.slice(-1500)).to.be.above(100);
    for (const l of record.sessions?.lostTurns ?? []) expect(l.t, `${l.session} turn ${l.turn}`).to.be.within(p.injectedAt - 3000, p.injectedAt + 500);
    expect(record.verdict).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record)).to.deep.equal(["us-east-no-acknowledged-turn-lost"]);
    expect(record.timeline.some((e) => e.type === "session.lost")).to.equal(true);
  });

  it("fails on rto (and only that) when Sentinel cannot reach quorum (session.quorum=4 of 3 Sentinels)", async () => {
    // at three quarters: the partition (25 s as shipped) must outlast the 15 s limit, or it cannot tell
    const { code, record, out } = await run(["--time-scale", "0.75", ...THREE_QUARTERS, "--stack-set", "session.quorum=4"]);
    const p = partition(record);
    // measured first: no failover, and not one turn acknowledged of those sent in the partition's last 5 s but for
    // its last 2: a turn is counted when sent, and one sent within the client's command timeout (1 s) and WAIT
    // (1 s) of the heal can still be kept once it heals (5 and 15 such turns seen on 2026-12-03)
    expect(record.timeline.some((e) => e.type === "session.primary"), out.slice(-1500)).to.equal(false);
    expect(acked(record, p.healingAt - 5000, p.healingAt - 2000).acked).to.equal(0);
    expect(record.verdict).to.equal("fail");
    expect(code).to.equal(1);
    expect(failing(record)).to.deep.equal(["us-east-session-writes-back-within-15s"]);
  });

  // full length: SessionReplicationLag waits 10 s once the lag passes 1 s
  it("replication-lag passes: replication 1.5 s behind, SessionReplicationLag fires and resolves, nothing lost once healed", async () => {
    const { record, out } = await run(THREE_QUARTERS, LAG);
    expect(record.verdict, out.slice(-1500)).to.equal("pass");
    // the lane's own samples: the lag held past the alert's 1 s through the fault's second half
    const f = record.faults[0];
    const lag = (record.series.stack ?? []).filter((x) => x.t > (f?.injectedAt ?? 0) + 12_000 && x.t < (f?.revertedAt ?? 0)).map((x) => x.replicationLagSeconds ?? 0);
    expect(Math.min(...lag), lag.join(",")).to.be.above(1);
  });

  it("replication-lag fails on the alert (and only that) with the lag threshold at 30 s", async () => {
    const { code, record, out } = await run(MISCONFIGURED["replication-lag"]?.args ?? [], LAG);
    expect(code, out.slice(-1500)).to.equal(1);
    expect(failing(record)).to.deep.equal(["us-east-replication-lag-alert"]);
  });

  it("after SIGKILL mid-partition, `faultline recover` heals the replication paths and the store returns to one primary", async () => {
    await using stack = await startStack();
    const { state, dir } = stack;
    {
      // Prometheus reads every node through redis_exporter: a primary with two replicas, all up
      await waitFor(async () => (await promQuery(state, "sum(redis_up)")).some((s) => Number(s.value[1]) === 3), 20_000);
      const slaves = await promQuery(state, 'redis_connected_slaves{node="redis-us-east"}');
      expect(Number(slaves[0]?.value[1])).to.equal(2);
      const out = tempDir("sessions-kill");
      const r = startCli(["run", SHIPPED, "--target", join(dir, "target.yaml"), "--out", out, "--time-scale", "0.6", ...THREE_QUARTERS]);
      await waitForJournal(out, "injected", 60_000);
      const tp = new ToxiproxyApi(state.endpoints.toxiproxy);
      const store = async (): Promise<{ primary: string | null; nodes: { name: string; role: string }[] }> => ((await (await fetch(`${state.endpoints.control}/sessions/state`)).json()) as { store: { primary: string | null; nodes: { name: string; role: string }[] } }).store;
      await waitFor(async () => (await tp.findToxics("faultline.")).some((t) => t.proxy === "redis-us-east"), 30_000);
      // (at 0.6 the partition holds 15 s, past the 6–9 s Sentinel takes to promote: the kill lands inside it)
      // killed once Sentinel has promoted a replica: us-east's node still believes it is the primary behind the partition
      await waitFor(async () => ((await store()).primary ?? "redis-us-east") !== "redis-us-east", 30_000);
      const promoted = (await store()).primary;
      r.child.kill("SIGKILL");
      await r.exit;
      expect((await tp.findToxics("faultline.")).map((t) => t.proxy), "left behind by the killed run").to.include.members(["redis-us-east-repl", "redis-us-east", "sentinel-us-east"]);
      const rec = await runCli(["recover", "--out", out]);
      expect(rec.code, rec.stderr).to.equal(0);
      expect(await tp.findToxics("faultline.")).to.deep.equal([]);
      // Sentinel demotes whichever side lost: one primary, the other two replicas in touch with it
      await waitFor(async () => {
        const s = await store();
        return s.nodes.filter((n) => n.role === "primary").map((n) => n.name).join() === promoted && s.nodes.filter((n) => n.role === "replica").length === 2;
      }, 60_000);
    }
  });
});
