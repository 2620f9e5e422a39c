import { expect } from "chai";
import { Batcher, Seq, blocksFor, capacityPerSecond, serviceMs, stepMs } from "../../lib/stack/capacity.ts";
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

  const seq = (promptTokens = 16): Seq => new Seq(promptTokens);

  it("slots go to waiters in arrival order; a full queue sheds; a waiter that leaves gives up its place", async () => {
    const b = new Batcher(replica({ maxBatch: 2, maxQueue: 2, shedding: true }));
    const [a, c] = [seq(), seq()];
    expect(b.acquire(a)).to.equal(true);
    expect(b.acquire(c)).to.equal(true);
    const w1 = seq();
    const first = b.acquire(w1);
    const second = b.acquire(seq());
    expect(b.queued).to.equal(2);
    expect(b.acquire(seq()), "the queue is full").to.equal("shed");
    b.release(w1); // the first waiter's client went away
    expect(await first).to.equal(false);
    expect(b.queued).to.equal(1);
    b.release(a); // the freed slot goes to the remaining waiter, not back to the pool
    expect(await second).to.equal(true);
    expect(b.inflight).to.equal(2);
    expect(b.acquire(seq()), "a new arrival waits behind nobody but gets no slot either").to.be.instanceOf(Promise);
    b.release(c);
    expect(b.inflight).to.equal(2);
  });

  it("with shedding off the queue has no bound", () => {
    const b = new Batcher(replica({ maxBatch: 1, maxQueue: 1, shedding: false }));
    b.acquire(seq());
    for (let i = 0; i < 10; i++) expect(b.acquire(seq())).to.be.instanceOf(Promise);
    expect(b.queued).to.equal(10);
  });

  it("Retry-After is about the time the queue takes to drain, at least a second", () => {
    const r = replica({ maxBatch: 1, maxQueue: 10_000, interTokenMs: 5, timeToFirstTokenMs: 20 });
    const b = new Batcher(r);
    b.acquire(seq());
    expect(b.retryAfterSeconds(72, 4)).to.equal(1);
    const perSecond = capacityPerSecond(r, 72, 4);
    for (let i = 0; i < Math.floor(perSecond * 3); i++) void b.acquire(seq());
    expect(b.retryAfterSeconds(72, 4)).to.equal(3);
  });

  // a pool of 10 blocks (160 tokens): 1 MiB per token, 160 MiB past the weights
  const small = (): Batcher => new Batcher(replica({ maxBatch: 8, maxQueue: 8, gpuMemoryMiB: 1160, weightsMiB: 1000, kvCacheMiBPerToken: 1 }));

  it("the KV cache is a pool of 16-token blocks: a prompt takes its blocks at admission, and one that does not fit waits at the head, holding everyone behind it", async () => {
    const b = small();
    expect(b.totalBlocks).to.equal(10);
    expect(b.maxTokens).to.equal(160);
    expect(blocksFor(16)).to.equal(1);
    expect(blocksFor(17)).to.equal(2);
    const big = seq(100); // 7 blocks
    expect(b.acquire(big)).to.equal(true);
    expect(b.usedBlocks).to.equal(7);
    const wide = seq(64); // 4 blocks: 3 free
    const waits = b.acquire(wide);
    expect(waits, "not enough blocks, though batch slots are free").to.be.instanceOf(Promise);
    expect(b.acquire(seq(8)), "first come, first served: a small one waits behind it").to.be.instanceOf(Promise);
    expect(b.usage).to.equal(0.7);
    b.release(big);
    expect(await waits).to.equal(true);
    expect(b.inflight).to.equal(2);
    expect(b.usedBlocks).to.equal(5);
  });

  it("a sequence that fills its last block takes another; with none free the newest sequence is preempted, freed and put back at the front of the queue", async () => {
    const b = small();
    const old = seq(64); // 4 blocks
    const mid = seq(48); // 3 blocks
    const young = seq(48); // 3 blocks: the pool is full
    for (const s of [old, mid, young]) expect(b.acquire(s)).to.equal(true);
    expect(b.usage).to.equal(1);
    const later = seq(16);
    const laterAdmitted = b.acquire(later);
    expect(b.grow(old, 0), "no new token: nothing to take").to.equal(true);
    // old's 65th token needs a fifth block: the newest (young) gives its three up
    expect(b.grow(old)).to.equal(true);
    expect(young.state).to.equal("waiting");
    expect(young.blocks).to.equal(0);
    expect(b.preemptions).to.equal(1);
    expect(b.usedBlocks).to.equal(8);
    expect(b.queued, "young went back in front of the later arrival").to.equal(2);
    // young's own step notices: it waits to be readmitted, then holds its prompt and what it made
    const back = b.grow(young, 2);
    expect(back).to.be.instanceOf(Promise);
    expect(young.tokens).to.equal(50);
    b.release(mid); // 5 free: young's 4 (50 tokens), then the later one's 1
    expect(await back).to.equal(true);
    expect(await laterAdmitted).to.equal(true);
    expect(young.blocks).to.equal(4);
    expect(b.usedBlocks).to.equal(10);
    expect(b.queued).to.equal(0);
  });

  it("the only sequence left preempts itself rather than wait forever for a block it holds", async () => {
    const b = new Batcher(replica({ maxBatch: 8, maxQueue: 8, gpuMemoryMiB: 1032, weightsMiB: 1000, kvCacheMiBPerToken: 1 })); // 2 blocks
    const a = seq(16);
    const c = seq(16);
    b.acquire(a);
    b.acquire(c);
    const self = b.grow(c); // c is the newest: it goes
    expect(self).to.be.instanceOf(Promise);
    expect([c.state, b.preemptions], "c, and only c, preempted").to.deep.equal(["waiting", 1]);
    expect(b.grow(a)).to.equal(true);
    b.release(a);
    expect(await self).to.equal(true);
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
