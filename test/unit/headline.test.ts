import { expect } from "chai";
import { headline, renderSummary } from "../../lib/report/markdown.ts";
import type { AssertionResult, RunRecord } from "../../lib/schema/run-record.ts";
import { checkResult, runRecord } from "../helpers/fixtures.ts";

const run = (verdict: RunRecord["verdict"], assertions: Partial<AssertionResult>[]): RunRecord =>
  runRecord({ experiment: { name: "node-loss" }, target: { name: "local" }, verdict, assertions: assertions.map(checkResult) });

// as demo 15 (2026-12-04) wrote them: node-loss failed on its steady state after recovery while its SLO held
const steadyFailed: Partial<AssertionResult> = { name: "steady-state-after-recovery", kind: "steady-state", verdict: "fail", message: "http_req_duration: p(99) < 500ms: measured 561.1ms" };
const sloHeld: Partial<AssertionResult> = { name: "slo-holds", kind: "slo", verdict: "pass", measured: 0.99994, unit: "ratio", limit: 0.999 };
const failover: Partial<AssertionResult> = { name: "us-east-failover", kind: "failover", verdict: "pass", measured: 3100, unit: "ms", limit: 30_000 };

describe("headline: the figure a suite's summary shows for each run", () => {
  it("a failed run leads with the check that failed it, the steady state included, not with a figure that passed", () => {
    expect(headline(run("fail", [steadyFailed, sloHeld]))).to.equal("steady-state-after-recovery: http_req_duration: p(99) < 500ms: measured 561.1ms");
    expect(headline(run("fail", [failover, steadyFailed]))).to.match(/^steady-state-after-recovery: /);
    expect(renderSummary([run("fail", [steadyFailed, sloHeld])])).to.include("| node-loss | fail | steady-state-after-recovery: http_req_duration");
  });

  it("an inconclusive run says which check could not tell and why, cut short past 100 characters", () => {
    const doubt = "inconclusive: the load generator was late on 6.1% of the window's requests (up to 152 ms at +63.1s; bound 100 ms), more than the 1.0% a p99 rests on";
    const h = headline(run("inconclusive", [{ ...steadyFailed, verdict: "inconclusive", message: doubt }, { name: "no-turn-lost", kind: "rpo", measured: 0, unit: "ms" }]));
    expect(h).to.match(/^steady-state-after-recovery: inconclusive: the load generator was late/);
    expect(h).to.have.length(100);
    expect(h.endsWith("…")).to.equal(true);
    expect(headline(run("inconclusive", [{ ...failover, verdict: "inconclusive" }]))).to.equal("us-east-failover 3.1 s (inconclusive)");
  });

  it("a failed check with a measurement shows it; a passing run keeps its failover time first", () => {
    expect(headline(run("fail", [failover, { ...sloHeld, verdict: "fail", measured: 0.995 }]))).to.equal("slo-holds 99.50 %");
    expect(headline(run("pass", [sloHeld, failover]))).to.equal("failover 3.1 s");
    expect(headline(run("pass", [{ ...steadyFailed, verdict: "pass" }, sloHeld]))).to.equal("slo-holds 99.99 %");
  });

  it("an aborted run says why it stopped, on one line, not a figure of a check it never reached", () => {
    const aborted = { ...run("aborted", [sloHeld]), reason: "steady state did not hold before any fault:\nhttp_req_duration: p(99) < 500ms: measured 507.9ms" };
    expect(headline(aborted)).to.equal("steady state did not hold before any fault: http_req_duration: p(99) < 500ms: measured 507.9ms");
  });
});
