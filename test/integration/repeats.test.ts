import { expect } from "chai";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import { RepeatRecord } from "../../lib/schema/repeat-record.ts";
import { journalTypes, runCli } from "../helpers/cli.ts";
import { tempDir, writeExperiment, writeTarget } from "../helpers/fixtures.ts";
import { freePort, startHttpServer, startToxiproxy } from "../helpers/servers.ts";
import type { StartedHttp, StartedToxiproxy } from "../helpers/servers.ts";

/**
 * Repeats, calibration and the gate on distributions, through the CLI against a real Toxiproxy in
 * front of two real servers: one that answers at once, one that takes 300 ms by itself.
 */
describe("repeats, calibration and a gate on distributions (real Toxiproxy)", function () {
  this.timeout(180_000);
  let tp: StartedToxiproxy;
  let fast: StartedHttp;
  let slow: StartedHttp;
  let dir: string;
  let targets: { fast: string; slow: string };

  before(async () => {
    tp = await startToxiproxy();
    fast = await startHttpServer();
    slow = await startHttpServer((req, res) => {
      req.resume();
      setTimeout(() => res.end("{}"), 300);
    });
    dir = tempDir("repeats");
    const target = async (name: string, upstreamPort: number): Promise<string> => {
      const sub = join(dir, name);
      const { mkdirSync } = await import("node:fs");
      mkdirSync(sub);
      const port = await freePort();
      return writeTarget(sub, tp.api, [{ name: `svc-${name}`, labels: { region: "us-east" }, listenPort: port, upstreamPort }], { gateway: `http://127.0.0.1:${port}` });
    };
    targets = { fast: await target("fast", fast.port), slow: await target("slow", slow.port) };
  });
  after(async () => {
    await fast?.[Symbol.asyncDispose]();
    await slow?.[Symbol.asyncDispose]();
    await tp?.stop();
  });

  /** 150 req/s (a p99 needs 100 samples in its window); `latency` more on us-east for 1 s; p99 under 200 ms must hold outside the fault, and under 2 s during it. */
  const experiment = (name: string, latency: string): string =>
    writeExperiment(
      dir,
      {
        metadata: { name },
        phases: { warmup: "0s", baseline: "1s", recovery: "1s" },
        load: { rate: 150, timeout: "5s" },
        faults: [{ name: "slow-east", kind: "latency", selector: { matchLabels: { region: "us-east" } }, duration: "1s", params: { latency } }],
        assertions: [
          { kind: "slo", name: "fast-in-baseline", during: "baseline", p99: "200ms" },
          { kind: "slo", name: "bounded-under-fault", during: "fault", p99: "2s" },
          { kind: "probe", name: "placeholder", probe: "gw", during: "fault", minSuccessRate: 0 },
        ],
        steadyState: { probes: [{ name: "gw", endpoint: "gateway", every: "200ms", timeout: "2s" }] },
      },
      `${name}-${latency}.yaml`,
    );

  const repeatsIn = (out: string, kind: string): RepeatRecord[] =>
    readdirSync(out)
      .filter((d) => d.includes(`-${kind}-`))
      .map((d) => RepeatRecord.parse(JSON.parse(readFileSync(join(out, d, "repeats.json"), "utf8"))));

  it("run --repeat 3 writes one record with every run: counts per check, every value, median and interval, and a report", async () => {
    const out = join(dir, "repeat");
    const r = await runCli(["run", experiment("rep", "100ms"), "--target", targets.fast, "--repeat", "3", "--out", out]);
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const [rec] = repeatsIn(out, "repeat");
    expect(rec?.runs.length).to.equal(3);
    expect(rec?.verdicts.pass).to.equal(3);
    expect(rec?.assertions.find((a) => a.name === "bounded-under-fault")?.counts.pass).to.equal(3);
    const p99 = rec?.metrics.find((m) => m.subject === "bounded-under-fault");
    expect(p99?.values).to.have.length(3);
    // the fault added 100 ms to every request through the proxy during it
    expect(p99?.spread.median).to.be.within(100, 400);
    expect(p99?.spread.ci[0]).to.be.at.most(p99?.spread.median as number);
    for (const run of rec?.runs ?? []) expect(existsSync(join(out, run.runDir, "run.json")), run.runDir).to.equal(true);
    const html = readFileSync(join(out, readdirSync(out).find((d) => d.includes("-repeat-")) as string, "report.html"), "utf8");
    expect(html).to.include("bounded-under-fault").and.include("3 pass");
    expect(r.stdout).to.match(/rep × 3: 3 pass/);
  });

  it("calibrate injects nothing, judges only the quiet checks, and says 0 false alarms on a healthy system; a later run's report names it", async () => {
    const out = join(dir, "calibrate-fast");
    const file = experiment("cal", "600ms");
    const r = await runCli(["calibrate", file, "--target", targets.fast, "--runs", "2", "--out", out]);
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    const [rec] = repeatsIn(out, "calibration");
    expect(rec?.kind).to.equal("calibration");
    expect(rec?.verdicts.pass).to.equal(2);
    // the probe check with a fault window is quiet too; the fault-bound 2 s SLO is one as well: all three judged, none failed
    expect(rec?.assertions.map((a) => a.name).sort()).to.deep.equal(["bounded-under-fault", "fast-in-baseline", "placeholder", "steady-state-after-recovery"]);
    for (const run of rec?.runs ?? []) expect(journalTypes(join(out, run.runDir)), "nothing injected").to.not.include("inject");
    expect(await new ToxiproxyApi(tp.api).findToxics("faultline.")).to.deep.equal([]);
    expect(r.stdout).to.include("false alarms: 0 of 2 runs");
    // with the 600 ms fault, the same experiment's baseline SLO holds and its run report shows the calibration
    const after = await runCli(["run", file, "--target", targets.fast, "--out", out]);
    expect(after.code, after.stderr).to.equal(0);
    const runDir = readdirSync(out).filter((d) => d.includes("-cal-") && !d.includes("calibration")).sort().at(-1) as string;
    expect(readFileSync(join(out, runDir, "report.html"), "utf8")).to.include("last calibration: false alarms 0 of 2 on test");
  });

  it("calibrate on a system that misbehaves without any fault counts every run as a false alarm of the check meant to catch it", async () => {
    const out = join(dir, "calibrate-slow");
    const r = await runCli(["calibrate", experiment("cal-slow", "600ms"), "--target", targets.slow, "--runs", "2", "--out", out]);
    expect(r.code).to.equal(1);
    const [rec] = repeatsIn(out, "calibration");
    expect(rec?.assertions.find((a) => a.name === "fast-in-baseline")?.counts).to.include({ fail: 2, pass: 0 });
    expect(rec?.assertions.find((a) => a.name === "bounded-under-fault")?.counts).to.include({ pass: 2 });
    expect(r.stdout).to.include("false alarms: 2 of 2 runs");
  });

  it("the gate compares distributions when both sides repeat: the same system passes, a slower one regresses (Mann–Whitney)", async () => {
    const base = join(dir, "gate-base");
    const b = await runCli(["run", experiment("gated", "100ms"), "--target", targets.fast, "--repeat", "4", "--out", base]);
    expect(b.code, b.stderr).to.equal(0);
    const same = await runCli(["gate", experiment("gated", "100ms"), "--target", targets.fast, "--repeat", "4", "--baseline", base, "--out", join(dir, "gate-same")]);
    const sameMd = readFileSync(join(dir, "gate-same", "gate.md"), "utf8");
    expect(same.code, sameMd).to.equal(0);
    expect(sameMd).to.include("compared as distributions").and.include("4 vs 4 runs");
    const slower = await runCli(["gate", experiment("gated", "800ms"), "--target", targets.fast, "--repeat", "4", "--baseline", base, "--out", join(dir, "gate-slow")]);
    const slowMd = readFileSync(join(dir, "gate-slow", "gate.md"), "utf8");
    expect(slower.code, slowMd).to.equal(1);
    expect(slowMd).to.match(/❌ \| gated \| bounded-under-fault \|.*p = 0\.01[0-9]* \(4 vs 4 runs\)/);
  });
});
