import { expect } from "chai";
import { compareRuns, deltasMarkdown, parseLimits } from "../../lib/gate/compare.ts";
import type { AssertionResult, RunRecord } from "../../lib/schema/run-record.ts";
import { checkResult, runRecord } from "../helpers/fixtures.ts";

function run(assertions: Partial<AssertionResult>[]): RunRecord {
  return runRecord({ experiment: { name: "region-partition" }, assertions: assertions.map((a) => checkResult({ kind: "failover", measured: 0, ...a })) });
}

describe("gate: regression against a baseline run", () => {
  const failover = (ms: number): Partial<AssertionResult> => ({ name: "us-east-failover-under-30s", kind: "failover", measured: ms, unit: "ms", limit: 30_000 });

  it("a failover 50 % slower fails the gate even though it stays under 30 s; an unchanged one passes", () => {
    const base = run([failover(2000)]);
    const [slower] = compareRuns(base, run([failover(3000)]));
    expect(slower).to.deep.include({ metric: "failover", subject: "us-east-failover-under-30s", baseline: 2000, current: 3000, regressed: true });
    expect(slower?.change).to.be.closeTo(0.5, 1e-9);
    expect(compareRuns(base, run([failover(2000)]))[0]?.regressed).to.equal(false);
    expect(compareRuns(base, run([failover(1200)]))[0]?.regressed, "faster is never a regression").to.equal(false);
  });

  it("a small absolute change on a tiny value is noise, not a regression", () => {
    expect(compareRuns(run([failover(100)]), run([failover(300)]))[0]?.regressed).to.equal(false);
  });

  it("limits are configurable per metric; alerts and rescheduling compare in seconds", () => {
    const limits = parseLimits(["failover=60%", "alert=0.5"]);
    expect(limits.failover).to.equal(0.6);
    expect(limits.alert).to.equal(0.5);
    expect(compareRuns(run([failover(2000)]), run([failover(3000)]), limits)[0]?.regressed).to.equal(false);
    const alert = (s: number): Partial<AssertionResult> => ({ name: "down", kind: "alert", measured: s, unit: "s" });
    expect(compareRuns(run([alert(10)]), run([alert(20)]))[0]).to.deep.include({ metric: "alert", baseline: 10_000, current: 20_000, regressed: true });
    // a "must not fire" alert measures firings, not time: not compared
    expect(compareRuns(run([{ name: "quiet", kind: "alert", measured: 0, unit: "firings" }]), run([{ name: "quiet", kind: "alert", measured: 1, unit: "firings" }]))).to.deep.equal([]);
    expect(() => parseLimits(["failvoer=10%"])).to.throw(/unknown metric "failvoer" \(known: failover, p99, alert, rescheduled, rollback\)/);
    expect(() => parseLimits(["failover"])).to.throw(/expected METRIC=PERCENT%/);
    // without --max-regression, failover may grow by a quarter: +20 % passes, +30 % regresses
    expect(compareRuns(run([failover(10_000)]), run([failover(12_000)]))[0]?.regressed).to.equal(false);
    expect(compareRuns(run([failover(10_000)]), run([failover(13_000)]))[0]?.regressed).to.equal(true);
  });

  it("summary.md shows every delta, regressions first", () => {
    const md = deltasMarkdown([...compareRuns(run([failover(2000)]), run([failover(3000)]))], ["node-loss"]);
    expect(md).to.contain("### Regression gate: 1 regressed of 1 compared");
    expect(md).to.match(/\| ❌ \| region-partition \| us-east-failover-under-30s \| 2000 ms \| 3000 ms \| \+50 % \| \+25 % \|/);
    expect(md).to.contain("No baseline for: node-loss");
  });
});
