import type { BackendPass } from "./backend-watch.ts";
import type { StackConfig } from "./config.ts";
import type { BackendStat, HaproxyApi } from "./haproxy-api.ts";

type Spillover = StackConfig["gateway"]["spillover"];

/**
 * The standby region's share of requests, one look later. The active regions' load is the
 * requests in flight on their UP servers per decode slot (HAProxy's current sessions ÷
 * replica.maxBatch): at `saturation` their replicas start to queue, so the share grows a step;
 * below 80 % of it, it shrinks a step. With no active server up the standby is every request's
 * backup anyway (`backup` servers), and the share goes back to 0. Pure, so it is tested alone.
 */
export function nextSpillPct(now: BackendStat, maxBatch: number, c: Spillover, pct: number): number {
  const active = now.servers.filter((s) => !s.backup && s.status === "UP");
  if (active.length === 0) return 0;
  const load = active.reduce((n, s) => n + (s.sessions ?? 0), 0) / (active.length * maxBatch);
  if (load >= c.saturation) return Math.min(c.maxPct, pct + c.stepPct);
  if (load < 0.8 * c.saturation) return Math.max(0, pct - c.stepPct);
  return pct;
}

/** On every `show stat` snapshot of the main backend: the standby's share, set in HAProxy when it changes. */
export class SpillOver implements BackendPass {
  private pct = 0;
  private readonly haproxy: HaproxyApi;
  private readonly maxBatch: number;
  private readonly c: Spillover;
  private readonly onChange: (pct: number) => void;

  constructor(haproxy: HaproxyApi, maxBatch: number, c: Spillover, onChange: (pct: number) => void) {
    this.haproxy = haproxy;
    this.maxBatch = maxBatch;
    this.c = c;
    this.onChange = onChange;
  }

  async observe(now: BackendStat): Promise<void> {
    const next = nextSpillPct(now, this.maxBatch, this.c, this.pct);
    if (next === this.pct) return;
    await this.haproxy.setIntVar("proc.spill_pct", next);
    this.pct = next;
    this.onChange(next);
  }
}
