import type { BackendStat, HaproxyApi } from "./haproxy-api.ts";

/** A pass over the gateway's backend, fed one `show stat` snapshot at a time. */
export interface BackendPass {
  observe(now: BackendStat, at: number): Promise<void>;
  stop?(): void;
}

/**
 * One `show stat` read of a backend every `everyMs`, handed to each pass in turn (outlier ejection,
 * the queue unjam): one read of the stats socket, not one per pass. A failed read or pass waits
 * for the next tick; a tick that finds the last one still running is skipped.
 */
export class BackendWatch {
  private readonly timer: NodeJS.Timeout;
  private readonly passes: readonly BackendPass[];
  private busy = false;

  constructor(haproxy: HaproxyApi, backend: string, passes: readonly BackendPass[], everyMs = 500) {
    this.passes = passes;
    this.timer = setInterval(() => {
      if (this.busy || passes.length === 0) return;
      this.busy = true;
      void haproxy
        .backend(backend)
        .then(async (now) => {
          const at = Date.now();
          for (const p of passes) await p.observe(now, at).catch(() => undefined);
        })
        .catch(() => undefined)
        .finally(() => (this.busy = false));
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const p of this.passes) p.stop?.();
  }
}
