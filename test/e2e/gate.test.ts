import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";

/**
 * `faultline gate` as a release pipeline runs it, on real runs of region-partition against the
 * local stack (time- and rate-scaled): a baseline run, then the same suite with failure detection
 * slowed — failover still well under 30 s, so every assertion passes, but it is far slower than
 * the baseline — and the same suite unchanged.
 */
describe("gate: a regression against the baseline fails the release, an unchanged run passes (real runs)", function () {
  this.timeout(300_000);
  const quick = ["--time-scale", "0.5", "--rate-scale", "0.5"];
  // This machine's noise on p99 is not what this test is about: it pins the failover comparison.
  const noisyP99 = ["--max-regression", "p99=300%"];
  let baseline: string;
  let baseFailover: number;

  const recordOf = (out: string): RunRecord => {
    const dir = readdirSync(out).find((d) => d.includes("region-partition")) as string;
    return JSON.parse(readFileSync(join(out, dir, "run.json"), "utf8")) as RunRecord;
  };
  const failoverOf = (out: string): number => Number(recordOf(out).assertions.find((a) => a.kind === "failover")?.measured);

  before(async () => {
    baseline = tempDir("gate-base");
    const r = await runCli(["run", "experiments/region-partition.yaml", "--out", baseline, ...quick]);
    expect(r.code, r.stderr.slice(-1500)).to.equal(0);
    baseFailover = failoverOf(baseline);
  });

  it("fails a run whose failover regressed by more than 50 % although it stays under 30 s", async () => {
    const out = tempDir("gate-slow");
    const junit = join(out, "junit.xml");
    const r = await runCli([
      "gate", "experiments/region-partition.yaml", "--baseline", baseline, "--out", out, "--junit", junit, ...quick, ...noisyP99,
      // detection by health checks alone (3 × 2 s): no retries, circuit breaking or outlier ejection
      "--stack-set", "gateway.retries=0",
      "--stack-set", "gateway.healthCheck.intervalMs=2000",
      "--stack-set", "gateway.circuitBreaker.consecutiveFailures=1000000",
      "--stack-set", "gateway.circuitBreaker.maxConnections=100000",
      "--stack-set", "gateway.outlier.failureRatePct=100",
    ]);
    const now = failoverOf(out);
    // the run itself really was slower, yet within the 30 s limit: every assertion passed
    expect(now, `baseline ${baseFailover} ms`).to.be.above(baseFailover * 1.5);
    expect(now).to.be.below(30_000);
    expect(recordOf(out).verdict, "every assertion passed").to.equal("pass");
    expect(r.code, r.stdout.slice(-2000)).to.equal(1);
    expect(r.stdout).to.match(/✗ region-partition\s+us-east-failover-under-30s/);
    expect(r.stdout).to.match(/\d+ regression\(s\): the gate fails/);
    const md = readFileSync(join(out, "gate.md"), "utf8");
    expect(md).to.match(/\| ❌ \| region-partition \| us-east-failover-under-30s \|/);
    const xml = readFileSync(junit, "utf8");
    expect(xml).to.match(/<testcase name="regression: us-east-failover-under-30s"[^>]*>\s*<failure/);
  });

  it("passes an unchanged run", async () => {
    const out = tempDir("gate-same");
    const r = await runCli(["gate", "experiments/region-partition.yaml", "--baseline", baseline, "--out", out, ...quick, ...noisyP99]);
    expect(r.code, r.stdout.slice(-2000)).to.equal(0);
    expect(r.stdout).to.match(/✓ region-partition\s+us-east-failover-under-30s/);
    expect(readFileSync(join(out, "gate.md"), "utf8")).to.match(/Regression gate: 0 regressed of \d+ compared/);
  });
});
