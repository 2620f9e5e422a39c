import { expect } from "chai";
import { Histogram, Registry } from "prom-client";
import { CountedHistogram } from "../../lib/stack/histogram.ts";

/** The same histogram family written by prom-client's own Histogram and by CountedHistogram. */
function both(buckets: number[]): { prom: Histogram<"model" | "version">; ours: CountedHistogram<"model" | "version">; text(): Promise<[string, string]> } {
  const a = new Registry();
  const b = new Registry();
  const o = { name: "x_seconds", help: "Time per thing, with \"quotes\" and a \\ in its help", labelNames: ["model", "version"] as const, buckets };
  const prom = new Histogram({ ...o, labelNames: [...o.labelNames], registers: [a] });
  const ours = new CountedHistogram({ ...o, registers: [b] });
  return { prom, ours, text: async () => [await a.metrics(), await b.metrics()] };
}

describe("CountedHistogram: a replica's histograms written as prom-client writes them (pure)", () => {
  it("the same text for the same observations: on a bound, between, past the last, negative, several series, zeroed", async () => {
    const h = both([0.01, 0.1, 0.5, 1]);
    const values = [0.01, 0.0099, 0.1, 0.3, 1, 1.0001, 42, -1, 0, 0.5];
    h.prom.zero({ model: "m", version: "v0" });
    h.ours.zero({ model: "m", version: "v0" });
    for (const [i, v] of values.entries()) {
      const version = i % 3 === 0 ? "v2" : "v1";
      h.prom.labels("m", version).observe(v);
      h.ours.labels("m", version).observe(v);
    }
    const [prom, ours] = await h.text();
    expect(ours).to.equal(prom);
    // and it says something: v1 has 0.0099, 0.1, 1, 1.0001, -1 and 0 (three at or under 0.01, five at or under 1)
    expect(ours).to.include('x_seconds_bucket{le="0.01",model="m",version="v1"} 3');
    expect(ours).to.include('x_seconds_bucket{le="1",model="m",version="v1"} 5');
    expect(ours).to.include('x_seconds_count{model="m",version="v2"} 4');
    expect(ours).to.include('x_seconds_bucket{le="+Inf",model="m",version="v0"} 0');
  });

  it("a series is not written before its first observation unless zeroed; the JSON view carries every label", async () => {
    const h = both([1, 2]);
    const unseen = h.ours.labels("m", "v9");
    expect((await h.text())[1]).to.not.include("v9");
    unseen.observe(1.5);
    expect((await h.text())[1]).to.include('x_seconds_bucket{le="2",model="m",version="v9"} 1');
    const json = h.ours.get();
    expect(json.values.find((v) => v.metricName === "x_seconds_bucket" && v.labels.le === 1)?.labels).to.deep.equal({ model: "m", version: "v9", le: 1 });
    expect(json.values.find((v) => v.metricName === "x_seconds_sum")?.value).to.equal(1.5);
  });
});
