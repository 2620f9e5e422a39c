import type { StackConfig } from "./config.ts";

type ReplicaConfig = StackConfig["replica"];

/** What an inference server's time for one request is made of, in ms, at a batch of `batch` sequences. */
export function serviceMs(r: ReplicaConfig, promptTokens: number, maxTokens: number, batch: number, factor = 1): { tokenize: number; ttft: number; decode: number; post: number } {
  return {
    tokenize: (r.tokenizeMsPer1kTokens * promptTokens * factor) / 1000,
    ttft: r.timeToFirstTokenMs * factor,
    decode: stepMs(r, batch, factor) * (maxTokens - 1),
    post: r.postprocessMs * factor,
  };
}

/** One decode step: every sequence of the batch advances a token, so a fuller batch steps slower (linear up to `1 + batchSlowdown` at `maxBatch`). */
export function stepMs(r: ReplicaConfig, batch: number, factor = 1): number {
  return r.interTokenMs * factor * (1 + (r.batchSlowdown * Math.min(batch, r.maxBatch)) / r.maxBatch);
}

/**
 * Requests a second one replica completes with its batch full, for requests of this shape: the
 * batch's sequences each take the service time at a full batch (Little's law). The figure the
 * README's sizing rule is checked against.
 */
export function capacityPerSecond(r: ReplicaConfig, promptTokens: number, maxTokens: number): number {
  const s = serviceMs(r, promptTokens, maxTokens, r.maxBatch);
  return (r.maxBatch * 1000) / (s.tokenize + s.ttft + s.decode + s.post);
}

/** Tokens per KV-cache block: vLLM's default `block_size`. */
export const BLOCK_TOKENS = 16;

/** KV blocks that hold `tokens` tokens. */
export function blocksFor(tokens: number): number {
  return Math.ceil(tokens / BLOCK_TOKENS);
}

/**
 * One request's sequence as the scheduler sees it: the KV blocks it holds and where it is. A
 * preempted sequence is back in the queue with nothing held; `readmitted` settles when it runs
 * again (true) or its client left first (false).
 */
export class Seq {
  state: "new" | "waiting" | "running" | "done" = "new";
  blocks = 0;
  /** tokens whose KV the sequence needs when it runs again: its prompt and what it has generated so far */
  tokens: number;
  readmitted: Promise<boolean> = Promise.resolve(true);
  private admitFn: ((ok: boolean) => void) | undefined;

  constructor(promptTokens: number) {
    this.tokens = promptTokens;
  }

  /** Into the queue: `readmitted` settles when the scheduler admits it or it leaves. */
  wait(): void {
    this.state = "waiting";
    this.readmitted = new Promise<boolean>((resolve) => (this.admitFn = resolve));
  }

  settle(ok: boolean): void {
    const f = this.admitFn;
    this.admitFn = undefined;
    f?.(ok);
  }
}

/**
 * A vLLM-like scheduler over a GPU's batch slots and its KV cache, a pool of fixed-size blocks
 * (vLLM's PagedAttention; its scheduler is vllm/v1/core/sched/scheduler.py):
 * - a sequence is admitted, in arrival order, when a batch slot is free (at most `maxBatch` run,
 *   vLLM's max_num_seqs) and the pool has the blocks its prompt needs; the head of the queue that
 *   does not fit holds everyone behind it (first come, first served);
 * - a running sequence takes a block each time its tokens fill the last one; when the pool is
 *   empty the newest running sequence is preempted (its blocks freed, vLLM's recompute mode) and
 *   goes back to the front of the queue, to prefill again when it is readmitted;
 * - past `maxQueue` waiting a new request is shed at once (when shedding is on; off, the queue
 *   has no bound).
 */
export class Batcher {
  private readonly r: ReplicaConfig;
  private readonly waiting: Seq[] = [];
  /** in admission order: the last is the newest, the first preempted */
  private readonly running: Seq[] = [];
  readonly totalBlocks: number;
  usedBlocks = 0;
  preemptions = 0;

  constructor(r: ReplicaConfig) {
    this.r = r;
    this.totalBlocks = r.kvCacheMiBPerToken > 0 ? Math.floor((r.gpuMemoryMiB - r.weightsMiB) / (BLOCK_TOKENS * r.kvCacheMiBPerToken)) : Number.MAX_SAFE_INTEGER;
  }

  get inflight(): number {
    return this.running.length;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** The pool's use, 0 to 1 (vllm:kv_cache_usage_perc). */
  get usage(): number {
    return this.totalBlocks === Number.MAX_SAFE_INTEGER ? 0 : this.usedBlocks / this.totalBlocks;
  }

  /** The most tokens one sequence may hold: the whole pool (vLLM refuses a longer request up front). */
  get maxTokens(): number {
    return this.totalBlocks === Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : this.totalBlocks * BLOCK_TOKENS;
  }

  /** `true` when it runs now; a Promise when it waits (settled as `seq.readmitted`); "shed" when the queue is full. */
  acquire(seq: Seq): boolean | Promise<boolean> | "shed" {
    if (this.waiting.length === 0 && this.fits(seq)) {
      this.admit(seq);
      return true;
    }
    if (this.r.shedding && this.waiting.length >= this.r.maxQueue) return "shed";
    seq.wait();
    this.waiting.push(seq);
    return seq.readmitted;
  }

  /**
   * `n` more tokens' KV for a sequence: new blocks when its last is full, preempting the newest
   * sequences until they are free. `true` when it may go on now; a Promise when it was preempted,
   * now or while it stepped (settled when readmitted, false when its client left first).
   */
  grow(seq: Seq, n = 1): true | Promise<boolean> {
    seq.tokens += n;
    if (seq.state !== "running") return seq.readmitted;
    while (blocksFor(seq.tokens) > seq.blocks) {
      while (this.usedBlocks >= this.totalBlocks) {
        const victim = this.running[this.running.length - 1] as Seq;
        this.preempt(victim);
        if (victim === seq) return seq.readmitted;
      }
      seq.blocks++;
      this.usedBlocks++;
    }
    return true;
  }

  /** Finished, or its client left: its slot and blocks go back, or its place in the queue. */
  release(seq: Seq): void {
    if (seq.state === "running") {
      this.running.splice(this.running.indexOf(seq), 1);
      this.usedBlocks -= seq.blocks;
      seq.blocks = 0;
    } else if (seq.state === "waiting") {
      this.waiting.splice(this.waiting.indexOf(seq), 1);
      seq.settle(false);
    }
    seq.state = "done";
    this.pump();
  }

  /** Seconds a shed client should wait: about the time the queue takes to drain, at least 1. */
  retryAfterSeconds(promptTokens: number, maxTokens: number): number {
    return Math.max(1, Math.ceil(this.waiting.length / capacityPerSecond(this.r, promptTokens, maxTokens)));
  }

  private fits(seq: Seq): boolean {
    return this.running.length < this.r.maxBatch && this.totalBlocks - this.usedBlocks >= blocksFor(seq.tokens);
  }

  private admit(seq: Seq): void {
    seq.state = "running";
    seq.blocks = blocksFor(seq.tokens);
    this.usedBlocks += seq.blocks;
    this.running.push(seq);
  }

  private preempt(seq: Seq): void {
    this.running.splice(this.running.indexOf(seq), 1);
    this.usedBlocks -= seq.blocks;
    seq.blocks = 0;
    this.preemptions++;
    seq.wait();
    this.waiting.unshift(seq);
  }

  /** Admit from the head of the queue while the head fits. */
  private pump(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0] as Seq)) {
      const seq = this.waiting.shift() as Seq;
      this.admit(seq);
      seq.settle(true);
    }
  }
}
