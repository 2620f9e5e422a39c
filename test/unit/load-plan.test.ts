import { expect } from "chai";
import { MIN_WARMUP_MS, planLoad, settleMaxMs, warmupMs } from "../../lib/engine/load-plan.ts";
import { backoffMs } from "../../lib/load/generator.ts";
import { ClientRetry, Experiment } from "../../lib/schema/experiment.ts";
import { Target } from "../../lib/schema/target.ts";
import { StackConfig } from "../../lib/stack/config.ts";
import { rulesTiming } from "../../lib/stack/monitoring.ts";

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

  it("a target whose cold start is slower (containers) lengthens the warm-up, and the load with it; no warm-up stays none", () => {
    expect(warmupMs(experiment("5s"), 1, 10_000)).to.equal(10_000);
    expect(warmupMs(experiment("20s"), 1, 10_000), "the experiment's own when longer").to.equal(20_000);
    expect(warmupMs(experiment("0s"), 1, 10_000)).to.equal(0);
    const plan = planLoad(experiment("5s"), target, { timeScale: 1, rateScale: 1, faultMs: 0, warmupMs: 10_000, onStage: () => undefined });
    // the warm-up, as long again to settle (alerts its ramp raised), baseline, recovery, 2 s
    expect(plan?.load.durationMs).to.equal(10_000 + 10_000 + 10_000 + 10_000 + 2000);
    expect(plan?.load.stages?.[0]).to.deep.equal({ duration: 5000, target: 2000 });
  });

  it("ramps from a tenth of the rate over the warm-up's first half and holds the full rate over its second", () => {
    const plan = planLoad(experiment("5s"), target, { timeScale: 0.5, rateScale: 1, faultMs: 4000, onStage: () => undefined });
    const total = 5000 + settleMaxMs(5000) + 5000 + 4000 + 5000 + 2000;
    expect(settleMaxMs(5000)).to.equal(5000);
    expect(settleMaxMs(2000), "a short warm-up may still settle for 5 s").to.equal(5000);
    expect(settleMaxMs(0), "no warm-up, nothing to settle").to.equal(0);
    expect(settleMaxMs(5000, 13_000), "as long as the target's alert rules remember").to.equal(13_000);
    expect(settleMaxMs(0, 13_000)).to.equal(0);
    // the stack's rules read 10 s windows, scraped and evaluated every second, polled every second: raised up to 3 s late, remembered 13 s
    expect(rulesTiming(StackConfig.parse({}))).to.deep.equal({ lagMs: 3000, memoryMs: 13_000 });
    const planned = planLoad(experiment("5s"), target, { timeScale: 0.5, rateScale: 1, faultMs: 4000, rulesMemoryMs: 13_000, onStage: () => undefined });
    expect(planned?.load.durationMs, "the load lasts through the longest settle").to.equal(total - settleMaxMs(5000) + 13_000);
    expect(plan?.load.rate).to.equal(200);
    expect(plan?.load.durationMs).to.equal(total);
    expect(plan?.load.stages).to.deep.equal([
      { duration: 2500, target: 2000 },
      { duration: total - 2500, target: 2000 },
    ]);
  });
});

describe("client retries (pure)", () => {
  it("back off exponentially from `backoff`, capped at `maxBackoff`; full jitter draws below the ceiling, none waits it out", () => {
    const none = ClientRetry.parse({ attempts: 3, backoff: "100ms", maxBackoff: "300ms", jitter: "none" });
    expect([0, 1, 2].map((n) => backoffMs(none, n))).to.deep.equal([100, 200, 300]);
    const full = ClientRetry.parse({ attempts: 3, backoff: "100ms" });
    expect(full.on).to.deep.equal(["5xx", "429", "timeout", "connError"]);
    expect(backoffMs(full, 1, () => 0.5)).to.equal(100);
    expect(backoffMs(full, 0, () => 0)).to.equal(0);
  });

  it("travel into the engine's load, and only the builtin engine takes them", () => {
    const exp = Experiment.parse({ apiVersion: "faultline.dev/v1", kind: "Experiment", metadata: { name: "r" }, load: { rate: 100, timeout: "1s", retry: { attempts: 3, jitter: "none" } } });
    const plan = planLoad(exp, target, { timeScale: 1, rateScale: 1, faultMs: 0, onStage: () => undefined });
    expect(plan?.load.retry).to.deep.include({ attempts: 3, jitter: "none", backoff: 0 });
    const k6 = Experiment.safeParse({ apiVersion: "faultline.dev/v1", kind: "Experiment", metadata: { name: "r" }, load: { engine: "k6", rate: 100, retry: { attempts: 1 } } });
    expect(k6.success).to.equal(false);
    expect(k6.error?.issues[0]?.message).to.equal("client retries need the builtin engine");
  });
});
