import type { GatewayEvent } from "../schema/gateway-event.ts";
import type { BackendPass } from "./backend-watch.ts";
import type { BackendStat, HaproxyApi, ServerStat } from "./haproxy-api.ts";

/** Slow-replica ejection: latency, not failures, makes the outlier. */
export interface SlowPolicy {
  enabled: boolean;
  /** a server whose mean response time over the window passes this × the median of its region's other serving servers… */
  factor: number;
  /** …and this many ms, is ejected */
  minMs: number;
}

export interface OutlierPolicy {
  /** how long an ejected server gets weight 0 */
  ejectionMs: number;
  /** a server failing more than this share (percent) of its requests over the window is ejected */
  failureRatePct: number;
  windowMs: number;
  /** fewer requests than this in the window say nothing */
  minRequests: number;
  slow: SlowPolicy;
}

/** A server's responses so far and their summed time in seconds (the gateway's `fl servers`). */
export interface ServerTimes {
  count: number;
  sum: number;
}

export interface Snapshot {
  t: number;
  stats: readonly ServerStat[];
  /** per server, when slow ejection reads them */
  times?: ReadonlyMap<string, ServerTimes>;
}

export interface Ejection {
  server: string;
  reason: string;
}

/** The gateway's `fl servers` answer: `<server> <responses> <seconds>` per line. */
export function parseServerTimes(text: string): Map<string, ServerTimes> {
  const out = new Map<string, ServerTimes>();
  for (const line of text.split("\n")) {
    const [name, count, sum] = line.trim().split(/\s+/);
    if (name === undefined || name === "" || count === undefined || sum === undefined) continue;
    const c = Number(count);
    const t = Number(sum);
    if (Number.isFinite(c) && Number.isFinite(t)) out.set(name, { count: c, sum: t });
  }
  return out;
}

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Mean response time (ms) per server over the window, for those with at least `minRequests` responses in it. */
function meansOver(old: Snapshot, now: Snapshot, minRequests: number): Map<string, number> {
  const out = new Map<string, number>();
  if (old.times === undefined || now.times === undefined) return out;
  for (const [name, cur] of now.times) {
    const prev = old.times.get(name) ?? { count: 0, sum: 0 };
    const n = cur.count - prev.count;
    if (n >= minRequests) out.set(name, ((cur.sum - prev.sum) / n) * 1000);
  }
  return out;
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
 * Passive outlier ejection (HAProxy has none by failure rate or latency): which servers to eject
 * now, and why, given snapshots over the window (oldest first) and the servers already ejected.
 * A server is an outlier when it fails more than `failureRatePct` of its requests, or (slow
 * ejection) when its mean response time passes `slow.factor` × the median of its own region's
 * other serving servers and `slow.minMs`: measured against its peers in the region, so a region
 * slowed as a whole (a network path, a cross-region hop) ejects nobody, and only a replica slow
 * among equals does — a throttled GPU, a noisy neighbour. Only a server that takes traffic is
 * ejected, and at most half of those that do, counting those already out: ejecting all of them
 * for a shared fault would turn a degradation into an outage. When two regions are dark and the
 * standby region carries everything, that half is of the standby's servers, not of the fleet
 * (counted over the fleet, every standby server could be ejected at once, and the gateway answered
 * 503 to every request). Pure, so it is tested alone.
 */
export function serversToEject(history: readonly Snapshot[], policy: OutlierPolicy, ejected: ReadonlySet<string>, regionOf: (server: string) => string = regionOfName): Ejection[] {
  const byFailures = policy.failureRatePct < 100;
  if (!byFailures && !policy.slow.enabled) return [];
  const old = history[0];
  const now = history.at(-1);
  if (old === undefined || now === undefined || old.t === now.t) return [];
  const before = new Map(old.stats.map((s) => [s.name, s]));
  const live = serving(now.stats);
  const means = policy.slow.enabled ? meansOver(old, now, policy.minRequests) : new Map<string, number>();
  const seconds = ((now.t - old.t) / 1000).toFixed(1);
  let out = live.filter((s) => ejected.has(s.name)).length;
  const chosen: Ejection[] = [];
  for (const cur of live) {
    const prev = before.get(cur.name);
    if (prev === undefined || ejected.has(cur.name)) continue;
    let reason: string | undefined;
    const total = cur.total - prev.total;
    const failed = cur.failed - prev.failed;
    if (byFailures && total >= policy.minRequests && (failed / total) * 100 > policy.failureRatePct) {
      reason = `failure rate ${((failed / total) * 100).toFixed(1)} % over ${seconds} s (limit ${policy.failureRatePct} %)`;
    }
    const mean = means.get(cur.name);
    if (reason === undefined && mean !== undefined) {
      const region = regionOf(cur.name);
      const peers = live.filter((s) => s.name !== cur.name && !ejected.has(s.name) && regionOf(s.name) === region).map((s) => means.get(s.name));
      const typical = median(peers.filter((m): m is number => m !== undefined));
      if (typical !== undefined && mean > policy.slow.factor * typical && mean > policy.slow.minMs) {
        reason = `slow: mean response ${mean.toFixed(0)} ms over ${seconds} s, ${(mean / typical).toFixed(1)}× the median of ${region}'s other servers (${typical.toFixed(0)} ms; limit ${policy.slow.factor}× and ${policy.slow.minMs} ms)`;
      }
    }
    if (reason === undefined) continue;
    if (out + 1 > Math.floor(live.length / 2)) break;
    out++;
    chosen.push({ server: cur.name, reason });
  }
  return chosen;
}

/** `us-east-2` is in us-east: the stack's replica names. */
function regionOfName(server: string): string {
  return server.replace(/-\d+$/, "");
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
  private readonly servers: readonly { name: string; weight: number; region: string }[];
  private readonly onEvent: (e: GatewayEvent, why: "failures" | "slow" | undefined) => void;

  private readonly weightOf: (server: string) => number | undefined;

  /**
   * `onEvent` hears of every ejection and every return, with the reason, for the metrics and the
   * gateway's record; `weightOf` gives the weight a returning server gets (default: its slot's own;
   * on kubernetes the weight a canary split gives it now).
   */
  constructor(haproxy: HaproxyApi, backend: string, policy: OutlierPolicy, servers: readonly { name: string; weight: number; region: string }[], onEvent: (e: GatewayEvent, why: "failures" | "slow" | undefined) => void, weightOf?: (server: string) => number | undefined) {
    this.weightOf = (server) => weightOf?.(server) ?? servers.find((x) => x.name === server)?.weight;
    this.haproxy = haproxy;
    this.backend = backend;
    this.policy = policy;
    this.servers = servers;
    this.onEvent = onEvent;
  }

  async observe(now: BackendStat, at: number): Promise<void> {
    const { policy, haproxy, backend } = this;
    if (policy.failureRatePct >= 100 && !policy.slow.enabled) return;
    // a gateway without the Lua counters (an older config) answers with an error line: no times, no slow ejection
    const times = policy.slow.enabled ? parseServerTimes(await haproxy.command("fl servers").catch(() => "")) : undefined;
    this.history.push({ t: at, stats: now.servers, ...(times !== undefined ? { times } : {}) });
    while ((this.history[0]?.t ?? at) < at - policy.windowMs) this.history.shift();
    const regionOf = (name: string): string => this.servers.find((x) => x.name === name)?.region ?? regionOfName(name);
    for (const { server, reason } of serversToEject(this.history, policy, new Set(this.ejected.keys()), regionOf)) {
      await haproxy.setWeight(backend, server, 0);
      this.onEvent({ t: Date.now(), kind: "server-ejected", backend, server, reason }, reason.startsWith("slow") ? "slow" : "failures");
      this.ejected.set(
        server,
        setTimeout(() => {
          this.ejected.delete(server);
          void haproxy
            .setWeight(backend, server, this.weightOf(server) ?? 1)
            .then(() => this.onEvent({ t: Date.now(), kind: "server-returned", backend, server, reason: `ejection of ${policy.ejectionMs / 1000} s over` }, undefined))
            .catch(() => undefined);
        }, policy.ejectionMs),
      );
    }
  }

  isEjected(server: string): boolean {
    return this.ejected.has(server);
  }

  stop(): void {
    for (const t of this.ejected.values()) clearTimeout(t);
  }
}
