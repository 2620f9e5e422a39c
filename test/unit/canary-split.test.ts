import { expect } from "chai";
import { splitOf } from "../../lib/clients/rollout-follower.ts";
import type { ReadyEndpoint } from "../../lib/clients/endpoint-slices.ts";
import { canaryWeight, rolloutChanges } from "../../lib/observe/kubernetes.ts";
import type { RolloutView } from "../../lib/observe/kubernetes.ts";
import { podHash, targetWeights } from "../../lib/stack/slots.ts";
import type { ReplicaSlot } from "../../lib/stack/topology.ts";

const steps = [{ setWeight: 5 }, { analysis: {} }, { setWeight: 50 }, { analysis: {} }];
const rollout = (status: Record<string, unknown>): Parameters<typeof splitOf>[0] => ({ metadata: { name: "inference-us-east" }, spec: { strategy: { canary: { steps } } }, status });

describe("Argo Rollouts: the canary's weight, the gateway's split, the timeline (pure)", () => {
  it("the weight is the last setWeight at or before the current step; 100 past the last; 0 once aborted", () => {
    expect(splitOf(rollout({ stableRS: "aaa", currentPodHash: "bbb", currentStepIndex: 1 }))).to.deep.equal({ stable: "aaa", canary: "bbb", weight: 5 });
    expect(splitOf(rollout({ stableRS: "aaa", currentPodHash: "bbb", currentStepIndex: 3 }))?.weight).to.equal(50);
    expect(splitOf(rollout({ stableRS: "bbb", currentPodHash: "bbb", currentStepIndex: 4 }))?.weight).to.equal(100);
    expect(splitOf(rollout({ stableRS: "aaa", currentPodHash: "bbb", currentStepIndex: 1, abort: true }))?.weight).to.equal(0);
    expect(splitOf(rollout({})), "no status yet").to.equal(undefined);
    expect(canaryWeight({ step: 2, steps, aborted: false })).to.equal(50);
  });

  it("the canary's pods share its weight of what the region's servers weigh together; other regions keep theirs", () => {
    const slot = (name: string, region: string, weight: number): ReplicaSlot => ({ name, region, zone: `${region}-a`, standby: false, weight, port: 0, proxyName: name, proxyPort: 0, healthProxyName: `${name}-hc`, healthProxyPort: 0 });
    const slots = [slot("us-east-1", "us-east", 117), slot("us-east-2", "us-east", 117), slot("us-east-3", "us-east", 117), slot("us-east-4", "us-east", 117), slot("us-west-1", "us-west", 50)];
    const ep = (pod: string): ReadyEndpoint => ({ ip: "198.18.0.1", port: 8000, pod, zone: undefined });
    const held = new Map([
      ["us-east-1", ep("inference-us-east-aaa-x1")],
      ["us-east-2", ep("inference-us-east-aaa-x2")],
      ["us-east-3", ep("inference-us-east-aaa-x3")],
      ["us-east-4", ep("inference-us-east-bbb-y1")],
      ["us-west-1", ep("inference-us-west-ccc-z1")],
    ]);
    expect(podHash("inference-us-east-aaa-x1")).to.equal("aaa");
    const w = targetWeights(slots, held, new Map([["us-east", { stable: "aaa", canary: "bbb", weight: 5 }]]));
    // 4 × 117 = 468: 5 % is 23 for the one canary pod, 95 % is 148 for each of the three stable ones
    expect(Object.fromEntries(w)).to.deep.equal({ "us-east-1": 148, "us-east-2": 148, "us-east-3": 148, "us-east-4": 23, "us-west-1": 50 });
    const share = (w.get("us-east-4") as number) / [...w].filter(([s]) => s.startsWith("us-east")).reduce((n, [, x]) => n + x, 0);
    expect(share).to.be.within(0.045, 0.055);
    // aborted: the canary gets nothing; promoted (canary = stable): every slot its own weight
    expect(targetWeights(slots, held, new Map([["us-east", { stable: "aaa", canary: "bbb", weight: 0 }]])).get("us-east-4")).to.equal(0);
    expect(targetWeights(slots, held, new Map([["us-east", { stable: "bbb", canary: "bbb", weight: 100 }]])).get("us-east-4")).to.equal(117);
    expect(targetWeights(slots, held, new Map()).get("us-east-1")).to.equal(117);
  });

  it("the timeline: steps, an abort as a roll-back, a new stable ReplicaSet as a promotion", () => {
    const v = (o: Partial<RolloutView>): RolloutView => ({ name: "inference/inference-us-east", phase: "Progressing", message: undefined, step: 0, steps, stableRS: "aaa", canaryRS: "bbb", aborted: false, version: "v2", ...o });
    expect(rolloutChanges(v({ step: 0 }), v({ step: 1 })).map(([t]) => t)).to.deep.equal(["rollout.step"]);
    expect(rolloutChanges(v({ step: 1 }), v({ step: 1, aborted: true, phase: "Degraded", message: "RolloutAborted" })).map(([t]) => t)).to.deep.equal(["rollout.rolled-back", "rollout.phase"]);
    const promoted = rolloutChanges(v({ step: 3 }), v({ step: 4, stableRS: "bbb", phase: "Healthy" }));
    expect(promoted.map(([t]) => t)).to.deep.equal(["rollout.promoted", "rollout.phase"]);
    expect(promoted[0]?.[1]).to.equal("inference/inference-us-east: v2 promoted to 100% (ReplicaSet bbb is stable)");
    expect(rolloutChanges(undefined, v({})), "first sight: no change").to.deep.equal([]);
  });
});
