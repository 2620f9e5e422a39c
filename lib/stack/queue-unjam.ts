import type { BackendPass } from "./backend-watch.ts";
import type { BackendStat, HaproxyApi, ServerStat } from "./haproxy-api.ts";
import { serving } from "./outlier.ts";

/**
 * HAProxy 2.6 (Debian's) can hold a backend's queue forever. With roundrobin, a request that finds
 * requests waiting in the backend's own queue is queued behind them ("all servers must be full"),
 * and that queue is only served when a server frees a connection slot. When the servers that filled
 * up go DOWN (a region partitioned with requests in flight) and others take over — the standby
 * region's, idle, with every slot free — no slot is ever freed: each queued request waits out
 * `timeout queue`, gets a 503, and the next ones take its place. Measured here with us-east and
 * us-west dark together at 2,000 req/s: 100 % 503 for the whole fault while eu-west sat idle.
 * Newer HAProxy releases only take that shortcut while some server is serving.
 *
 * The servers that could take queued requests now: those taking traffic with a free slot, while
 * the backend's queue is not empty. Both snapshots must say so (500 ms apart), so a queue that
 * HAProxy is already draining is left alone. Pure, so it is tested alone.
 */
export function jammed(before: BackendStat | undefined, now: BackendStat): ServerStat[] {
  if (before === undefined || before.queued === 0 || now.queued === 0) return [];
  const free = (s: ServerStat): boolean => s.maxconn !== undefined && s.maxconn > 0 && (s.sessions ?? 0) < s.maxconn;
  const freeBefore = new Set(serving(before.servers).filter(free).map((s) => s.name));
  return serving(now.servers).filter((s) => free(s) && freeBefore.has(s.name));
}

/**
 * On every `show stat` snapshot (500 ms apart): when the backend's queue is stuck, setting each free
 * server's connection limit (to the value it has) makes HAProxy hand it queued requests at once; as
 * they complete, the queue drains and new requests are routed again.
 */
export class QueueUnjammer implements BackendPass {
  private before: BackendStat | undefined;
  private readonly haproxy: HaproxyApi;
  private readonly backend: string;
  private readonly onUnjam: (servers: readonly string[]) => void;

  constructor(haproxy: HaproxyApi, backend: string, onUnjam: (servers: readonly string[]) => void) {
    this.haproxy = haproxy;
    this.backend = backend;
    this.onUnjam = onUnjam;
  }

  async observe(now: BackendStat): Promise<void> {
    const free = jammed(this.before, now);
    this.before = now;
    if (free.length === 0) return;
    await Promise.all(free.map((s) => this.haproxy.setMaxconn(this.backend, s.name, s.maxconn ?? 0)));
    this.onUnjam(free.map((s) => s.name));
    this.before = undefined; // judge the next pass afresh
  }
}
