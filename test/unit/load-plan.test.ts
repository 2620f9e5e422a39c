import { expect } from "chai";
import { MIN_WARMUP_MS, planLoad, warmupMs } from "../../lib/engine/load-plan.ts";
import { Experiment } from "../../lib/schema/experiment.ts";
import { Target } from "../../lib/schema/target.ts";

const experiment = (warmup: string): Experiment =>
  Experiment.parse({
    apiVersion: "faultline.dev/v1",
    kind: "Experiment",
    metadata: { name: "plan" },
    phases: { warmup, baseline: "10s", recovery: "10s" },
    load: { rate: 2000 },
  });
const target = Target.parse({ apiVersion: "faultline.dev/v1", kind: "Target", metadata: { name: "t" }, endpoints: { gateway: { url: "http://127.0.0.1:9" } } });

describe("the load's plan (pure)", () => {
  it("a time-scaled warm-up keeps at least 5 s (its costs do not shrink with the run), never more than the experiment's own", () => {
    expect(MIN_WARMUP_MS).to.equal(5000);
    expect(warmupMs(experiment("5s"), 0.5)).to.equal(5000);
    expect(warmupMs(experiment("20s"), 0.1)).to.equal(5000);
    expect(warmupMs(experiment("20s"), 0.5)).to.equal(10_000);
    expect(warmupMs(experiment("5s"), 2)).to.equal(10_000);
    expect(warmupMs(experiment("2s"), 0.5), "a shorter warm-up of its own stays as it is").to.equal(2000);
    expect(warmupMs(experiment("0s"), 0.5)).to.equal(0);
  });

  it("ramps from a tenth of the rate over the warm-up's first half and holds the full rate over its second", () => {
    const plan = planLoad(experiment("5s"), target, { timeScale: 0.5, rateScale: 1, faultMs: 4000, onStage: () => undefined });
    const total = 5000 + 5000 + 4000 + 5000 + 2000;
    expect(plan?.load.rate).to.equal(200);
    expect(plan?.load.durationMs).to.equal(total);
    expect(plan?.load.stages).to.deep.equal([
      { duration: 2500, target: 2000 },
      { duration: total - 2500, target: 2000 },
    ]);
  });
});
