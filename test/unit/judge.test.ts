import { expect } from "chai";
import { abortTriggered, judgeProbeAssertion, judgeSteadyState } from "../../lib/judge/probes.ts";
import { select } from "../../lib/faults/select.ts";
import type { ProbeSample } from "../../lib/schema/run-record.ts";

const series = (spec: string, stepMs = 100, slowMs = 5): ProbeSample[] =>
  [...spec].map((c, i) => ({ t: i * stepMs, ok: c !== "x", ms: c === "s" ? 900 : slowMs, ...(c === "x" ? { error: "boom" } : {}) }));

describe("judge: probes", () => {
  it("steady state holds on a clean window and fails on failures, with evidence", () => {
    const probes = { gw: series("....x.....") };
    expect(judgeSteadyState(probes, { start: 0, end: 400 }, 0).holds).to.equal(true);
    const r = judgeSteadyState(probes, { start: 0, end: 1000 }, 0);
    expect(r.holds).to.equal(false);
    expect(r.messages[0]).to.match(/1\/10 calls failed/);
    expect(r.evidence).to.have.length(1);
    expect(judgeSteadyState(probes, { start: 0, end: 1000 }, 0.1).holds).to.equal(true);
  });

  it("missing data is a failure with a message, never a pass", () => {
    const r = judgeSteadyState({ gw: [] }, { start: 0, end: 1000 }, 1);
    expect(r.holds).to.equal(false);
    expect(r.messages[0]).to.match(/no samples/);
    const a = judgeProbeAssertion({ kind: "probe", name: "a", probe: "gw", during: "run", minSuccessRate: 0 }, undefined, { start: 0, end: 1 });
    expect(a.verdict).to.equal("fail");
    expect(a.measured).to.equal(null);
  });

  it("success rate and latency limits each fail with measured value and limit", () => {
    const s = series("..x.s.....");
    const rate = judgeProbeAssertion({ kind: "probe", name: "r", probe: "gw", during: "run", minSuccessRate: 0.95 }, s, { start: 0, end: 1000 });
    expect(rate).to.include({ verdict: "fail", measured: 0.9, limit: 0.95 });
    const lat = judgeProbeAssertion({ kind: "probe", name: "l", probe: "gw", during: "run", maxLatency: 500 }, s, { start: 0, end: 1000 });
    expect(lat).to.include({ verdict: "fail", measured: 900, limit: 500 });
    const ok = judgeProbeAssertion({ kind: "probe", name: "l", probe: "gw", during: "run", maxLatency: 1000, minSuccessRate: 0.9 }, s, { start: 0, end: 1000 });
    expect(ok.verdict).to.equal("pass");
  });

  it("an abort condition fires only once the failure rate held for the whole window", () => {
    const c = { kind: "probe" as const, probe: "gw", failureRateAbove: 0.5, for: 500 };
    const flapping = series("x.x.x.x.x.x.");
    expect(abortTriggered(c, flapping, 1100)).to.equal(undefined);
    const down = series("......xxxxxxx");
    expect(abortTriggered(c, down, 500)).to.equal(undefined);
    expect(abortTriggered(c, down, 1250)).to.match(/failure rate 100\.0% > 50\.0%/);
  });
});

describe("faults: selectors", () => {
  const proxies = [
    { name: "us-west-a", labels: { region: "us-west", zone: "a" } },
    { name: "us-east-b", labels: { region: "us-east", zone: "b" } },
    { name: "us-east-a", labels: { region: "us-east", zone: "a" } },
  ];
  it("selects by labels, sorted by name, honouring count and percent", () => {
    expect(select(proxies, { matchLabels: { region: "us-east" } }, "proxy").map((p) => p.name)).to.deep.equal(["us-east-a", "us-east-b"]);
    expect(select(proxies, { matchLabels: { region: "us-east" }, count: 1 }, "proxy")).to.have.length(1);
    expect(select(proxies, { matchLabels: { region: "us-east" }, percent: 10 }, "proxy")).to.have.length(1);
    expect(select(proxies, { names: ["us-west-a"] }, "proxy")[0]?.name).to.equal("us-west-a");
  });
  it("an empty selection is an error that lists what exists", () => {
    expect(() => select(proxies, { matchLabels: { region: "eu-west" } }, "toxiproxy proxy")).to.throw(/matched no toxiproxy proxy.*us-east-a \{region=us-east,zone=a\}/);
  });
});
