import { expect } from "chai";
import { Batcher, capacityPerSecond, serviceMs, stepMs } from "../../lib/stack/capacity.ts";
import { StackConfig, applySets } from "../../lib/stack/config.ts";
import { layout } from "../../lib/stack/topology.ts";

const defaults = StackConfig.parse({}).replica;
const replica = (over: Partial<typeof defaults> = {}): typeof defaults => ({ ...defaults, ...over });

describe("replica capacity model (pure)", () => {
  it("a decode step slows linearly with the batch, to (1 + batchSlowdown) × interTokenMs at a full batch, and no further", () => {
    const r = replica({ interTokenMs: 5, maxBatch: 64, batchSlowdown: 1 });
    expect(stepMs(r, 0)).to.equal(5);
    expect(stepMs(r, 32)).to.equal(7.5);
    expect(stepMs(r, 64)).to.equal(10);
    expect(stepMs(r, 500)).to.equal(10);
    expect(serviceMs(r, 1000, 5, 64, 2)).to.deep.equal({ tokenize: 2 * r.tokenizeMsPer1kTokens, ttft: 2 * r.timeToFirstTokenMs, decode: 4 * 20, post: 2 * r.postprocessMs });
  });

  it("the default replica carries the seed's sizing rule: a region of 3 replicas ≥ 150 % of the shipped 2,000 req/s", () => {
    // the shipped mix: chat, 16–128 prompt tokens (72 on average), 4 completion tokens
    const perReplica = capacityPerSecond(defaults, 72, 4);
    expect(perReplica * 3).to.be.at.least(1.5 * 2000);
    // and it binds: ten times the shipped rate on one region is past it
    expect(perReplica * 3).to.be.below(10 * 2000);
  });

  it("slots go to waiters in arrival order; a full queue sheds; a waiter that leaves gives up its place", async () => {
    const b = new Batcher(replica({ maxBatch: 2, maxQueue: 2, shedding: true }));
    const leave: (() => void)[] = [];
    expect(b.acquire(() => undefined)).to.equal(true);
    expect(b.acquire(() => undefined)).to.equal(true);
    const first = b.acquire((f) => leave.push(f));
    const second = b.acquire(() => undefined);
    expect(b.queued).to.equal(2);
    expect(b.acquire(() => undefined), "the queue is full").to.equal("shed");
    (leave[0] as () => void)(); // the first waiter's client went away
    expect(await first).to.equal(false);
    expect(b.queued).to.equal(1);
    b.release(); // the freed slot goes to the remaining waiter, not back to the pool
    expect(await second).to.equal(true);
    expect(b.inflight).to.equal(2);
    expect(b.acquire(() => undefined), "a new arrival waits behind nobody but gets no slot either").to.be.instanceOf(Promise);
    b.release();
    b.release();
    expect(b.inflight).to.equal(1);
  });

  it("with shedding off the queue has no bound", () => {
    const b = new Batcher(replica({ maxBatch: 1, maxQueue: 1, shedding: false }));
    b.acquire(() => undefined);
    for (let i = 0; i < 10; i++) expect(b.acquire(() => undefined)).to.be.instanceOf(Promise);
    expect(b.queued).to.equal(10);
  });

  it("Retry-After is about the time the queue takes to drain, at least a second", () => {
    const r = replica({ maxBatch: 1, maxQueue: 10_000, interTokenMs: 5, timeToFirstTokenMs: 20 });
    const b = new Batcher(r);
    b.acquire(() => undefined);
    expect(b.retryAfterSeconds(72, 4)).to.equal(1);
    const perSecond = capacityPerSecond(r, 72, 4);
    for (let i = 0; i < Math.floor(perSecond * 3); i++) void b.acquire(() => undefined);
    expect(b.retryAfterSeconds(72, 4)).to.equal(3);
  });
});

describe("stack layout: gateway weights", () => {
  const weights = (sets: string[]): Record<string, number> => {
    let port = 20_000;
    return Object.fromEntries(layout(StackConfig.parse(applySets({}, sets)), () => port++).map((s) => [s.name, s.weight]));
  };

  it("share each region's weight among its replicas, within HAProxy's 256, keeping the regions' ratio", () => {
    expect(weights([])).to.deep.include({ "us-east-1": 233, "us-west-1": 100, "eu-west-1": 1 });
    const w = weights(["regions=[{name: a, weight: 100, replicas: 1}, {name: b, weight: 50, replicas: 2}]"]);
    // raw 1,000 and 250 each: scaled by 256/1,000, so a carries 256 : 128 = 100 : 50
    expect(w).to.deep.equal({ "a-1": 256, "b-1": 64, "b-2": 64 });
  });
});
