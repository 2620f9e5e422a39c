import { expect } from "chai";
import { request } from "node:http";
import { pino } from "pino";
import { undoBackend } from "../../lib/engine/backends.ts";
import { planFault } from "../../lib/faults/catalog.ts";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import type { Fault } from "../../lib/schema/faults.ts";
import { Target } from "../../lib/schema/target.ts";
import { freePort, startHttpServer, startToxiproxy } from "../helpers/servers.ts";
import type { StartedHttp, StartedToxiproxy } from "../helpers/servers.ts";

/** One request over a fresh connection; resolves with the round trip in ms, or rejects. */
function roundTrip(port: number, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(performance.now() - t0));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end();
  });
}

async function medianRoundTrip(port: number, n = 15): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await roundTrip(port));
  xs.sort((a, b) => a - b);
  return xs[Math.floor(n / 2)] as number;
}

describe("toxiproxy driver against a real toxiproxy-server", function () {
  this.timeout(30_000);
  let tp: StartedToxiproxy;
  let http: StartedHttp;
  let proxyPort: number;
  let target: Target;
  const log = pino({ level: "silent" });

  before(async () => {
    tp = await startToxiproxy();
    http = await startHttpServer();
    proxyPort = await freePort();
    await new ToxiproxyApi(tp.api).ensureProxy("svc-a", `127.0.0.1:${proxyPort}`, `127.0.0.1:${http.port}`);
    target = Target.parse({
      apiVersion: "faultline.dev/v1",
      kind: "Target",
      metadata: { name: "t" },
      toxiproxy: { api: tp.api, proxies: [{ name: "svc-a", labels: { region: "us-east" } }] },
    });
  });
  after(async () => {
    await http?.[Symbol.asyncDispose]();
    await tp?.stop();
  });

  const fault = (kind: string, params: Record<string, unknown>): Fault =>
    ({ kind, selector: { matchLabels: { region: "us-east" } }, at: 0, duration: 10_000, params }) as unknown as Fault;

  it("a 200ms latency fault adds >= 200ms to the round trip, and revert brings it back within 20ms", async () => {
    const baseline = await medianRoundTrip(proxyPort);
    const plan = await planFault(fault("latency", { latency: 200, jitter: 0, direction: "downstream", toxicity: 1 }), {
      runId: "t1",
      faultName: "lat",
      target,
      log,
    });
    expect(plan.targets).to.deep.equal(["svc-a"]);
    for (const a of plan.actions) await a.apply();
    const api = new ToxiproxyApi(tp.api);
    expect(await api.findToxics("faultline.t1.")).to.deep.equal([{ proxy: "svc-a", toxic: "faultline.t1.lat.downstream" }]);
    const during = await medianRoundTrip(proxyPort);
    for (const a of plan.actions) {
      await undoBackend(a.undo.driver).revert(a.undo);
      await undoBackend(a.undo.driver).revert(a.undo); // idempotent
    }
    const after = await medianRoundTrip(proxyPort);
    expect(during - baseline, `baseline ${baseline.toFixed(1)}ms, during ${during.toFixed(1)}ms`).to.be.at.least(200);
    expect(Math.abs(after - baseline), `baseline ${baseline.toFixed(1)}ms, after ${after.toFixed(1)}ms`).to.be.at.most(20);
    expect(await api.findToxics("faultline.")).to.deep.equal([]);
  });

  it("a blackhole partition makes requests hang in both directions until reverted", async () => {
    const plan = await planFault(fault("partition", { mode: "blackhole" }), { runId: "t2", faultName: "cut", target, log });
    expect(plan.actions.map((a) => a.undo["toxic"])).to.deep.equal(["faultline.t2.cut.upstream", "faultline.t2.cut.downstream"]);
    for (const a of plan.actions) await a.apply();
    let err: unknown;
    try {
      await roundTrip(proxyPort, 500);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/no answer within 500ms/);
    for (const a of [...plan.actions].reverse()) await undoBackend("toxiproxy").revert(a.undo);
    expect(await roundTrip(proxyPort)).to.be.below(500);
  });

  it("a reset partition makes connections fail at once", async () => {
    const plan = await planFault(fault("partition", { mode: "reset" }), { runId: "t3", faultName: "rst", target, log });
    for (const a of plan.actions) await a.apply();
    let err: unknown;
    try {
      await roundTrip(proxyPort, 1000);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/ECONNRESET|socket hang up/);
    for (const a of plan.actions) await undoBackend("toxiproxy").revert(a.undo);
  });

  it("accepts every Toxiproxy toxic type, both directions, with toxicity", async () => {
    const cases: Record<string, Record<string, number>> = {
      latency: { latency: 10, jitter: 5 },
      bandwidth: { rateKBps: 100 },
      slow_close: { delay: 10 },
      timeout: { timeout: 100 },
      reset_peer: { timeout: 10 },
      slicer: { averageSize: 64, sizeVariation: 8, delay: 1 },
      limit_data: { bytes: 1000 },
    };
    const api = new ToxiproxyApi(tp.api);
    for (const [type, attributes] of Object.entries(cases)) {
      const plan = await planFault(fault("toxic", { type, attributes, direction: "both", toxicity: 0.5 }), {
        runId: "t4",
        faultName: type.replace("_", "-"),
        target,
        log,
      });
      for (const a of plan.actions) await a.apply();
      const mine = (await api.toxics("svc-a")).filter((t) => t.name.startsWith(`faultline.t4.${type.replace("_", "-")}.`));
      expect(mine.map((t) => [t.type, t.stream, t.toxicity]), type).to.have.deep.members([
        [type, "upstream", 0.5],
        [type, "downstream", 0.5],
      ]);
      if (type === "slicer") expect(mine[0]?.attributes).to.deep.include({ average_size: 64, size_variation: 8, delay: 1000 });
      for (const a of plan.actions) await undoBackend("toxiproxy").revert(a.undo);
    }
    expect(await api.findToxics("faultline.")).to.deep.equal([]);
  });

  it("reverting against a Toxiproxy that is gone fails with a message naming it", async () => {
    const undo = { driver: "toxiproxy", api: `http://127.0.0.1:${await freePort()}`, proxy: "svc-a", toxic: "x" };
    let err: unknown;
    try {
      await undoBackend("toxiproxy").revert(undo);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/toxiproxy: GET \/proxies\/svc-a at http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  });
});
