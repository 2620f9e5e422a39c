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

interface Waiter {
  admit: (admitted: boolean) => void;
}

/**
 * The batch slots of a GPU server and the queue in front of them: at most `maxBatch` sequences
 * decode at once; the next `maxQueue` wait in arrival order; past that a request is shed at once
 * (when shedding is on; off, the queue has no bound). A slot freed goes straight to the head of the
 * queue, so a new arrival cannot jump it.
 */
export class Batcher {
  private readonly r: ReplicaConfig;
  private readonly waiting: Waiter[] = [];
  inflight = 0;

  constructor(r: ReplicaConfig) {
    this.r = r;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** `true` when a slot is this request's, now or after its wait; `false` when `gone` fired first; "shed" when the queue is full. */
  acquire(gone: (leave: () => void) => void): boolean | Promise<boolean> | "shed" {
    if (this.inflight < this.r.maxBatch && this.waiting.length === 0) {
      this.inflight++;
      return true;
    }
    if (this.r.shedding && this.waiting.length >= this.r.maxQueue) return "shed";
    return new Promise<boolean>((resolve) => {
      const w: Waiter = { admit: resolve };
      this.waiting.push(w);
      gone(() => {
        const i = this.waiting.indexOf(w);
        if (i < 0) return;
        this.waiting.splice(i, 1);
        resolve(false);
      });
    });
  }

  /** The slot goes to the longest waiter, or back to the pool. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next.admit(true);
    else this.inflight--;
  }

  /** Seconds a shed client should wait: about the time the queue takes to drain, at least 1. */
  retryAfterSeconds(promptTokens: number, maxTokens: number): number {
    return Math.max(1, Math.ceil(this.waiting.length / capacityPerSecond(this.r, promptTokens, maxTokens)));
  }
}
