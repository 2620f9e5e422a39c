import { join } from "node:path";
import { sessionRegions } from "./config.ts";
import type { StackConfig } from "./config.ts";
import type { SessionClientConfig } from "../clients/sessions.ts";

/**
 * The session store's layout: a Redis node per region in `session.nodes` (the first starts as the
 * primary), a Sentinel per region in `session.sentinels`, one redis_exporter. Every path between
 * them and every client path crosses Toxiproxy, labelled with the region it leads into:
 *
 * - `redis-<region>` (path: session): clients — the inference replicas, the supervisor — to that node;
 * - `redis-<region>-repl` (path: replication): the address the node announces, so what replicas
 *   replicate through and what the Sentinels watch it by (Sentinel keeps replicas pointed at the
 *   address it knows, so these two cannot be told apart);
 * - `sentinel-<region>` (path: sentinel): the address that Sentinel announces to the others and to clients.
 *
 * A region partition cuts all three with the region's traffic; a latency fault on `path:
 * replication` slows replication (and the Sentinels' view) without slowing clients. Clients learn
 * the primary from a Sentinel by its announced address and map it to its session path (ioredis'
 * natMap), so every client path is a proxy too. redis_exporter reads each node directly, as the
 * gateway's health checks have a path of their own.
 */

export const SESSION_MASTER = "faultline";

/**
 * Where the store's parts are reached: on loopback all four are 127.0.0.1; in a container (the
 * testcontainers target) Redis binds every address, Toxiproxy (another container) dials this one
 * by its address, listens on every address, and is reached by its own.
 */
export interface SessionHosts {
  /** what Redis and the Sentinels bind */
  bind: string;
  /** the address Toxiproxy dials to reach them (an IP: it would ask DNS again per connection) */
  upstream: string;
  /** what Toxiproxy's proxies listen on */
  listen: string;
  /** the address the proxies are reached at (an IP: Redis announces it) */
  proxy: string;
}
export const LOOPBACK_HOSTS: SessionHosts = { bind: "127.0.0.1", upstream: "127.0.0.1", listen: "127.0.0.1", proxy: "127.0.0.1" };

export interface Proxied {
  region: string;
  /** the process name, and the name of the proxy in front of it */
  name: string;
  port: number;
  proxyPort: number;
}
export interface SessionNode extends Proxied {
  replName: string;
  replPort: number;
}
export interface SessionLayout {
  hosts: SessionHosts;
  nodes: SessionNode[];
  sentinels: Proxied[];
  exporterPort: number;
}

export function sessionPortsNeeded(c: StackConfig): number {
  const r = sessionRegions(c);
  return 3 * r.nodes.length + 2 * r.sentinels.length + 1;
}

export function sessionLayout(c: StackConfig, pool: readonly number[], hosts: SessionHosts = LOOPBACK_HOSTS): SessionLayout {
  const rest = [...pool];
  const take = (): number => {
    const p = rest.shift();
    if (p === undefined) throw new Error(`the session store needs ${sessionPortsNeeded(c)} ports, was given ${pool.length}`);
    return p;
  };
  const r = sessionRegions(c);
  const nodes = r.nodes.map((region) => ({ region, name: `redis-${region}`, port: take(), proxyPort: take(), replName: `redis-${region}-repl`, replPort: take() }));
  const sentinels = r.sentinels.map((region) => ({ region, name: `sentinel-${region}`, port: take(), proxyPort: take() }));
  return { hosts, nodes, sentinels, exporterPort: take() };
}

export function clientConfig(c: StackConfig, l: SessionLayout, region?: string): SessionClientConfig {
  const sentinels = [...l.sentinels].sort((a, b) => Number(b.region === region) - Number(a.region === region));
  return {
    master: SESSION_MASTER,
    sentinels: sentinels.map((s) => ({ host: l.hosts.proxy, port: s.proxyPort })),
    natMap: Object.fromEntries(l.nodes.map((n) => [`${l.hosts.proxy}:${n.replPort}`, { host: l.hosts.proxy, port: n.proxyPort }])),
    waitReplicas: Math.min(c.session.waitReplicas, l.nodes.length - 1),
    waitTimeoutMs: c.session.waitTimeoutMs,
    commandTimeoutMs: c.session.commandTimeoutMs,
  };
}

/** The proxies in front of the store: [name, listen port, upstream port, labels]. */
export function sessionProxies(l: SessionLayout): { name: string; listen: string; upstream: string; labels: Record<string, string> }[] {
  const at = (listen: number, upstream: number): { listen: string; upstream: string } => ({ listen: `${l.hosts.listen}:${listen}`, upstream: `${l.hosts.upstream}:${upstream}` });
  return [
    ...l.nodes.flatMap((n) => [
      { name: n.name, ...at(n.proxyPort, n.port), labels: { region: n.region, path: "session", node: n.name } },
      { name: n.replName, ...at(n.replPort, n.port), labels: { region: n.region, path: "replication", node: n.name } },
    ]),
    ...l.sentinels.map((s) => ({ name: s.name, ...at(s.proxyPort, s.port), labels: { region: s.region, path: "sentinel" } })),
  ];
}

/** What a Redis node and a Sentinel both say: where they listen, in the foreground, logging to stdout (the supervisor's log file). */
function serverLines(l: SessionLayout, port: number, dir: string): string[] {
  return [`port ${port}`, `bind ${l.hosts.bind}`, "protected-mode no", "daemonize no", `dir ${dir}`, 'logfile ""'];
}

/** A node's redis.conf: AOF per the stack's settings, announced by its replication path, the first node's replicas pointed at it. */
export function redisConf(c: StackConfig, l: SessionLayout, n: SessionNode, dir: string): string {
  const s = c.session;
  const primary = l.nodes[0] as SessionNode;
  return [
    ...serverLines(l, n.port, dir),
    'save ""', // persistence is the AOF's business (or none, when it is off)
    `appendonly ${s.aof ? "yes" : "no"}`,
    `appendfsync ${s.appendfsync}`,
    // never more than there are replicas: a store of one node would refuse every write
    `min-replicas-to-write ${Math.min(s.minReplicasToWrite, l.nodes.length - 1)}`,
    `min-replicas-max-lag ${s.minReplicasMaxLagSeconds}`,
    `replica-announce-ip ${l.hosts.proxy}`,
    `replica-announce-port ${n.replPort}`,
    // the primary pings its replicas every second, so a replica's lag and a dead link show within seconds
    "repl-ping-replica-period 1",
    "repl-timeout 10",
    "repl-diskless-sync yes",
    "repl-diskless-sync-delay 0",
    ...(n === primary ? [] : [`replicaof ${l.hosts.proxy} ${primary.replPort}`]),
    "",
  ].join("\n");
}

/** A Sentinel's config (Sentinel rewrites it as it learns: it must be writable). */
export function sentinelConf(c: StackConfig, l: SessionLayout, s: Proxied, dir: string): string {
  const primary = l.nodes[0] as SessionNode;
  const x = c.session;
  return [
    ...serverLines(l, s.port, dir),
    `sentinel announce-ip ${l.hosts.proxy}`,
    `sentinel announce-port ${s.proxyPort}`,
    `sentinel monitor ${SESSION_MASTER} ${l.hosts.proxy} ${primary.replPort} ${x.quorum}`,
    `sentinel down-after-milliseconds ${SESSION_MASTER} ${x.downAfterMs}`,
    `sentinel failover-timeout ${SESSION_MASTER} ${x.failoverTimeoutMs}`,
    `sentinel parallel-syncs ${SESSION_MASTER} 1`,
    "",
  ].join("\n");
}

export function sessionDir(stackDir: string, name: string): string {
  return join(stackDir, "session", name);
}
