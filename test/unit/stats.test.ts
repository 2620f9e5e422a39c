import { expect } from "chai";
import { compareRepeats, compareRuns } from "../../lib/gate/compare.ts";
import { summarizeRepeats } from "../../lib/judge/repeats.ts";
import { mannWhitneyGreater, spread } from "../../lib/judge/stats.ts";
import type { RepeatRecord } from "../../lib/schema/repeat-record.ts";
import type { AssertionResult, RunRecord } from "../../lib/schema/run-record.ts";

/** A run record with one failover measurement, enough for the gate and the repeat summary. */
function runWith(failoverMs: number, verdict: "pass" | "fail" | "inconclusive" = "pass", i = 0): RunRecord {
  const a: AssertionResult = { name: "failover", kind: "failover", verdict, measured: failoverMs, limit: 30_000, unit: "ms", window: { start: 0, end: 1 }, message: "", evidence: [] };
  return { schemaVersion: 1, runId: `r${i}`, experiment: { name: "x" }, target: { name: "local" }, startedAt: 1000 + i, endedAt: 2000 + i, verdict, timeScale: 1, phases: [], faults: [], assertions: [a], timeline: [], series: { probes: {} } } as RunRecord;
}

describe("statistics for repeated runs", () => {
  it("Mann–Whitney, one-sided: exact for small samples (5 vs 5 all above: p = 1/252), ties included, normal beyond", () => {
    expect(mannWhitneyGreater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p).to.be.closeTo(1 / 252, 1e-12);
    expect(mannWhitneyGreater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).p).to.equal(1);
    const same = mannWhitneyGreater([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]);
    expect(same.exact).to.equal(true);
    expect(same.p).to.be.above(0.5);
    // all equal: no evidence either way
    expect(mannWhitneyGreater([7, 7, 7], [7, 7, 7]).p).to.equal(1);
    const big = mannWhitneyGreater(Array.from({ length: 30 }, (_, i) => i), Array.from({ length: 30 }, (_, i) => i + 5));
    expect(big.exact).to.equal(false);
    expect(big.p).to.be.within(0.01, 0.04);
  });

  it("the median's bootstrap interval lies within the values, holds the median, and is the same every time", () => {
    const xs = [500, 520, 480, 510, 530, 900, 495];
    const s = spread(xs);
    expect(s.median).to.equal(510);
    expect(s.ci[0]).to.be.at.least(480).and.at.most(510);
    expect(s.ci[1]).to.be.at.least(510).and.at.most(900);
    expect(spread(xs)).to.deep.equal(s);
    expect(spread([42]).ci).to.deep.equal([42, 42]);
  });

  it("a repeat record counts each check's verdicts and keeps every value; inconclusive values are left out", () => {
    const rec = summarizeRepeats("repeat", [runWith(1000, "pass", 1), runWith(1200, "pass", 2), runWith(9000, "inconclusive", 3)].map((record) => ({ runDir: `/o/${record.runId}`, record })), { target: "local", timeScale: 1, rateScale: 1 });
    expect(rec.verdicts).to.include({ pass: 2, inconclusive: 1 });
    expect(rec.assertions).to.deep.equal([{ name: "failover", kind: "failover", counts: { pass: 2, fail: 0, inconclusive: 1, aborted: 0, error: 0 } }]);
    expect(rec.metrics[0]?.values).to.deep.equal([1000, 1200]);
  });

  const repeatOf = (values: number[]): RepeatRecord => summarizeRepeats("repeat", values.map((v, i) => ({ runDir: `r${i}`, record: runWith(v, "pass", i) })), { target: "local", timeScale: 1, rateScale: 1 });

  it("the gate with repeats: one slow run among five is noise, five slow runs are a regression", () => {
    const baseline = repeatOf([1000, 1100, 950, 1050, 1020]);
    const oneOutlier = repeatOf([1010, 2600, 980, 1040, 1000]);
    const shifted = repeatOf([1600, 1700, 1650, 1580, 1720]);
    // run against run, the outlier alone would fail the gate (+155 %)
    expect(compareRuns(runWith(1000), runWith(2600))[0]?.regressed).to.equal(true);
    const noise = compareRepeats(baseline, oneOutlier)[0];
    expect(noise?.regressed).to.equal(false);
    expect(noise?.test?.p).to.be.above(0.05);
    const real = compareRepeats(baseline, shifted)[0];
    expect(real?.regressed).to.equal(true);
    expect(real?.test?.p).to.be.below(0.01);
    expect(real?.baseline).to.equal(1020);
    expect(real?.current).to.equal(1650);
  });

  it("the gate with repeats: a significant but small shift (under the limit and the floor) is not a regression", () => {
    const d = compareRepeats(repeatOf([1000, 1001, 1002, 1003, 1004]), repeatOf([1100, 1101, 1102, 1103, 1104]))[0];
    expect(d?.test?.p).to.be.below(0.01);
    expect(d?.regressed).to.equal(false);
  });
});
