import type { Clock } from "../../lib/clock.ts";

/** A clock whose sleeps pass at once and move its time on by what was asked: a run of minutes in milliseconds. */
export class FakeClock implements Clock {
  t: number;

  constructor(start = Date.UTC(2026, 10, 30, 12)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    await Promise.resolve();
    this.t += ms;
    if (signal?.aborted) throw signal.reason;
  }
}
