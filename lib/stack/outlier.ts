import type { BackendPass } from "./backend-watch.ts";
import type { BackendStat, HaproxyApi, ServerStat } from "./haproxy-api.ts";

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
 * The servers taking traffic now: those up among the regular ones; when none is, the backups
 * (HAProxy then sends everything to them). Ejection counts against this set, not the fleet.
 */
export function serving(stats: readonly ServerStat[]): ServerStat[] {
  const up = stats.filter((s) => s.status === "UP");
  const regular = up.filter((s) => !s.backup);
  return regular.length > 0 ? regular : up.filter((s) => s.backup);
}

/**
 * Passive outlier ejection (HAProxy has none by failure rate): which servers to eject now, given
 * `show stat` snapshots over the window (oldest first) and the servers already ejected. Only a
 * server that takes traffic is ejected, and at most half of those that do, counting those already
 * out: ejecting all of them for a shared fault would turn a degradation into an outage. When two
 * regions are dark and the standby region carries everything, that half is of the standby's
 * servers, not of the fleet (counted over the fleet, every standby server could be ejected at
 * once, and the gateway answered 503 to every request). Pure, so it is tested alone.
 */
export function serversToEject(history: readonly Snapshot[], policy: OutlierPolicy, ejected: ReadonlySet<string>): string[] {
  if (policy.failureRatePct >= 100) return [];
  const old = history[0];
  const now = history.at(-1);
  if (old === undefined || now === undefined || old.t === now.t) return [];
  const before = new Map(old.stats.map((s) => [s.name, s]));
  const live = serving(now.stats);
  let out = live.filter((s) => ejected.has(s.name)).length;
  const chosen: string[] = [];
  for (const cur of live) {
    const prev = before.get(cur.name);
    if (prev === undefined || ejected.has(cur.name)) continue;
    const total = cur.total - prev.total;
    const failed = cur.failed - prev.failed;
    if (total < policy.minRequests || (failed / total) * 100 <= policy.failureRatePct) continue;
    if (out + 1 > Math.floor(live.length / 2)) break;
    out++;
    chosen.push(cur.name);
  }
  return chosen;
}

/**
 * The ejection pass, on every `show stat` snapshot (500 ms apart): a server to eject gets weight 0
 * for `ejectionMs`, then its weight again. Weight 0 stops new traffic without touching the health
 * state: a dead server stays DOWN after the ejection ends, a live one returns to its weight.
 */
export class OutlierEjector implements BackendPass {
  private readonly history: Snapshot[] = [];
  private readonly ejected = new Map<string, NodeJS.Timeout>();
  private readonly haproxy: HaproxyApi;
  private readonly backend: string;
  private readonly policy: OutlierPolicy;
  private readonly servers: readonly { name: string; weight: number }[];
  private readonly onEject: (server: string) => void;

  constructor(haproxy: HaproxyApi, backend: string, policy: OutlierPolicy, servers: readonly { name: string; weight: number }[], onEject: (server: string) => void) {
    this.haproxy = haproxy;
    this.backend = backend;
    this.policy = policy;
    this.servers = servers;
    this.onEject = onEject;
  }

  async observe(now: BackendStat, at: number): Promise<void> {
    const { policy, haproxy, backend } = this;
    if (policy.failureRatePct >= 100) return;
    this.history.push({ t: at, stats: now.servers });
    while ((this.history[0]?.t ?? at) < at - policy.windowMs) this.history.shift();
    for (const server of serversToEject(this.history, policy, new Set(this.ejected.keys()))) {
      const weight = this.servers.find((x) => x.name === server)?.weight ?? 1;
      await haproxy.setWeight(backend, server, 0);
      this.onEject(server);
      this.ejected.set(
        server,
        setTimeout(() => {
          this.ejected.delete(server);
          void haproxy.setWeight(backend, server, weight).catch(() => undefined);
        }, policy.ejectionMs),
      );
    }
  }

  stop(): void {
    for (const t of this.ejected.values()) clearTimeout(t);
  }
}
