import type { HaproxyApi, ServerStat } from "./haproxy-api.ts";

export interface OutlierPolicy {
  /** how long an ejected server gets weight 0 */
  ejectionMs: number;
  /** a server failing more than this share (percent) of its requests over the window is ejected */
  failureRatePct: number;
  windowMs: number;
  /** fewer requests than this in the window say nothing */
  minRequests: number;
}

export interface Snapshot {
  t: number;
  stats: readonly ServerStat[];
}

/**
 * Passive outlier ejection (HAProxy has none by failure rate): which servers to eject now, given
 * `show stat` snapshots over the window (oldest first), the servers already ejected, and how many
 * servers are active. At most half the active servers are ejected at once: ejecting the whole
 * fleet for a shared fault would turn a degradation into an outage. Pure, so it is tested alone.
 */
export function serversToEject(history: readonly Snapshot[], policy: OutlierPolicy, ejected: ReadonlySet<string>, active: number): string[] {
  if (policy.failureRatePct >= 100) return [];
  const old = history[0];
  const now = history.at(-1);
  if (old === undefined || now === undefined || old.t === now.t) return [];
  const before = new Map(old.stats.map((s) => [s.name, s]));
  const out: string[] = [];
  for (const cur of now.stats) {
    const prev = before.get(cur.name);
    if (prev === undefined || ejected.has(cur.name)) continue;
    const total = cur.total - prev.total;
    const failed = cur.failed - prev.failed;
    if (total < policy.minRequests || (failed / total) * 100 <= policy.failureRatePct) continue;
    if (ejected.size + out.length + 1 > Math.floor(active / 2)) break;
    out.push(cur.name);
  }
  return out;
}

/**
 * The ejection loop: every 500 ms a `show stat` snapshot; a server to eject gets weight 0 for
 * `ejectionMs`, then its weight again. Weight 0 stops new traffic without touching the health
 * state: a dead server stays DOWN after the ejection ends, a live one returns to its weight.
 */
export class OutlierEjector {
  private readonly history: Snapshot[] = [];
  private readonly ejected = new Map<string, NodeJS.Timeout>();
  private readonly timer: NodeJS.Timeout;

  constructor(haproxy: HaproxyApi, policy: OutlierPolicy, servers: readonly { name: string; weight: number }[], active: () => number, onEject: (server: string) => void) {
    const pass = async (): Promise<void> => {
      if (policy.failureRatePct >= 100) return;
      const now = Date.now();
      this.history.push({ t: now, stats: await haproxy.stats("inference") });
      while ((this.history[0]?.t ?? now) < now - policy.windowMs) this.history.shift();
      for (const server of serversToEject(this.history, policy, new Set(this.ejected.keys()), active())) {
        const weight = servers.find((x) => x.name === server)?.weight ?? 1;
        await haproxy.setWeight("inference", server, 0);
        onEject(server);
        this.ejected.set(
          server,
          setTimeout(() => {
            this.ejected.delete(server);
            void haproxy.setWeight("inference", server, weight).catch(() => undefined);
          }, policy.ejectionMs),
        );
      }
    };
    this.timer = setInterval(() => void pass().catch(() => undefined), 500);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const t of this.ejected.values()) clearTimeout(t);
  }
}
