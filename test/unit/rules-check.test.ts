import { expect } from "chai";
import { analyse, selectorsOf } from "../../lib/observe/rules-check.ts";

describe("rules check: which series a rule reads, and whether it can fire without some", () => {
  const only = (...have: string[]) => (sel: string): boolean => have.includes(sel);

  it("finds every selector once, label matchers kept, ranges and offsets dropped", () => {
    expect(selectorsOf(`sum(rate(vllm:prefix_cache_hits_total{job="x"}[2m] offset 1m)) / sum(rate(vllm:prefix_cache_hits_total{job="x"}[2m])) > 0.7`)).to.deep.equal(['vllm:prefix_cache_hits_total{job="x"}']);
    expect(selectorsOf(`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) * 1000 > 400 and on() {__name__="b"}`)).to.deep.equal(["a_bucket", '{__name__="b"}']);
  });

  it("a binary operation needs both sides; `or` either; `unless` its left; absent() nothing", () => {
    expect(analyse("a / b > 1", only("a")).canFire).to.equal(false);
    expect(analyse("a / b > 1", only("a", "b")).canFire).to.equal(true);
    expect(analyse("increase(a[5m]) > 0 or max(b) > 0", only("a")).canFire).to.equal(true);
    expect(analyse("increase(a[5m]) > 0 or max(b) > 0", only()).canFire).to.equal(false);
    expect(analyse("a > 1 unless b", only("a")).canFire).to.equal(true);
    expect(analyse("b unless a > 1", only("a")).canFire).to.equal(false);
    expect(analyse(`absent(up{job="model"})`, only()).canFire).to.equal(true);
    expect(analyse("(sum(a) or vector(0)) / sum(b)", only("b")).canFire).to.equal(true);
  });
});
