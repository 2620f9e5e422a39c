import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { retryUntil } from "../clock.ts";
import { FaultlineError, errorMessage } from "../errors.ts";
import type { ToxiproxyApi } from "../clients/toxiproxy.ts";
import type { GatewayEvent } from "../schema/gateway-event.ts";
import type { StackConfig } from "./config.ts";
import { SessionClient } from "../clients/sessions.ts";
import { SESSION_MASTER, clientConfig, redisConf, sentinelConf, sessionDir, sessionProxies } from "./session-store.ts";
import type { SessionLayout, SessionNode } from "./session-store.ts";

const HEARTBEAT_KEY = "faultline:heartbeat";
const HEARTBEAT_MS = 500;

/** How the tier starts its processes: the supervisor's spawn (a Child with a log, restarted with back-off). */
export type Spawn = (name: string, command: string, args: string[]) => void;

export interface NodeState {
  name: string;
  region: string;
  /** what the node says it is (ROLE), or unreachable from the supervisor's vantage point */
  role: "primary" | "replica" | "unreachable";
  /** a replica: now minus the newest heartbeat it holds (the primary writes one every 500 ms) */
  lagSeconds?: number;
}

/**
 * The session store as the supervisor runs it (layout and paths: session-store.ts): Redis nodes,
 * Sentinels, redis_exporter; a heartbeat written on the primary every 500 ms and read on every
 * node, which gives replication lag in seconds (what pt-heartbeat does for MySQL: Redis' own
 * `lag` is the age of the replica's last ACK, which stays small while the data falls behind);
 * the primary as the Sentinels name it, with every change in the gateway's record.
 */
export class SessionTier {
  private readonly c: StackConfig;
  private readonly l: SessionLayout;
  private readonly dir: string;
  private readonly note: (e: GatewayEvent) => void;
  private client: SessionClient | undefined;
  private readonly direct = new Map<string, Redis>();
  private timer: NodeJS.Timeout | undefined;
  /** a beat still waiting on a node (a partitioned one answers after its timeout): the next waits for it */
  private beating = false;
  private primary: string | undefined;
  private states: NodeState[] = [];
  private readonly lag: Gauge;
  private readonly isPrimary: Gauge;

  constructor(c: StackConfig, layout: SessionLayout, stackDir: string, registry: Registry, note: (e: GatewayEvent) => void) {
    this.c = c;
    this.l = layout;
    this.dir = stackDir;
    this.note = note;
    this.lag = new Gauge({ name: "stack_session_replication_lag_seconds", help: "How far a session replica is behind its primary: now minus the newest heartbeat it holds (written on the primary every 500 ms)", labelNames: ["node", "region"], registers: [registry] });
    this.isPrimary = new Gauge({ name: "stack_session_primary", help: "1 for the node the Sentinels name primary", labelNames: ["node", "region"], registers: [registry] });
  }

  /** Processes and proxies up, the replicas in sync with the primary and every Sentinel watching it. */
  async start(spawn: Spawn, tp: ToxiproxyApi): Promise<void> {
    for (const p of sessionProxies(this.l)) await tp.ensureProxy(p.name, p.listen, p.upstream);
    // each process in a folder of its own, with its config (Sentinel rewrites its own as it learns)
    const launch = (name: string, file: string, conf: (dir: string) => string, args: string[] = []): void => {
      const d = sessionDir(this.dir, name);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, file), conf(d));
      spawn(name, "redis-server", [join(d, file), ...args]);
    };
    for (const n of this.l.nodes) launch(n.name, "redis.conf", (d) => redisConf(this.c, this.l, n, d));
    spawn("redis-exporter", "prometheus-redis-exporter", ["-web.listen-address", `127.0.0.1:${this.l.exporterPort}`, "-redis.addr", `redis://127.0.0.1:${(this.l.nodes[0] as SessionNode).port}`]);
    for (const n of this.l.nodes) this.direct.set(n.name, new Redis({ port: n.proxyPort, host: this.l.hosts.proxy, commandTimeout: 400, connectTimeout: 400, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 200, lazyConnect: true }));
    for (const r of this.direct.values()) r.on("error", () => undefined);
    const want = this.l.nodes.length - 1;
    await this.waitFor(`the session store's primary with ${want} replica(s) in sync`, async () => {
      const primary = this.direct.get((this.l.nodes[0] as SessionNode).name) as Redis;
      if (primary.status !== "ready") await primary.connect().catch(() => undefined);
      const info = await primary.info("replication");
      return (info.match(/^slave\d+:.*state=online/gm) ?? []).length >= want;
    });
    // Sentinels after the replicas are in sync: a Sentinel learns replicas from the primary's INFO,
    // which it reads again only every 10 s
    for (const s of this.l.sentinels) launch(s.name, "sentinel.conf", (d) => sentinelConf(this.c, this.l, s, d), ["--sentinel"]);
    await this.waitFor(`the session store's ${this.l.sentinels.length} Sentinel(s) watching its primary and each other`, async () => {
      for (const s of this.l.sentinels) {
        const r = new Redis({ port: s.port, host: "127.0.0.1", commandTimeout: 500, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        r.on("error", () => undefined);
        try {
          await r.connect();
          const m = (await r.call("SENTINEL", "MASTER", SESSION_MASTER)) as string[];
          const field = (k: string): string | undefined => m[m.indexOf(k) + 1];
          if (Number(field("num-slaves")) < want || Number(field("num-other-sentinels")) < this.l.sentinels.length - 1) return false;
        } finally {
          r.disconnect();
        }
      }
      return true;
    });
    this.client = new SessionClient(clientConfig(this.c, this.l));
    this.timer = setInterval(() => {
      if (this.beating) return;
      this.beating = true;
      void this.beat().finally(() => (this.beating = false));
    }, HEARTBEAT_MS);
  }

  private async waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
    await retryUntil(check, (ok) => ok, ({ elapsedMs, error }) => new FaultlineError("E_TIMEOUT", `${what} not ready after ${elapsedMs}ms${error ? `: ${errorMessage(error)}` : ""} (logs in ${join(this.dir, "logs")})`), { timeoutMs: 30_000, intervalMs: 200 });
  }

  /** One heartbeat: written on the primary (through the Sentinels), read on every node through its session path. */
  private async beat(): Promise<void> {
    const client = this.client;
    if (client === undefined) return;
    await client.redis.set(HEARTBEAT_KEY, String(Date.now())).catch(() => undefined);
    const states = await Promise.all(
      this.l.nodes.map(async (n): Promise<NodeState> => {
        const r = this.direct.get(n.name) as Redis;
        try {
          if (r.status === "wait" || r.status === "end") await r.connect();
          const [role, hb] = await Promise.all([r.call("ROLE") as Promise<unknown[]>, r.get(HEARTBEAT_KEY)]);
          if (role[0] === "master") return { name: n.name, region: n.region, role: "primary" };
          return { name: n.name, region: n.region, role: "replica", lagSeconds: hb === null ? 0 : Math.max(0, (Date.now() - Number(hb)) / 1000) };
        } catch {
          return { name: n.name, region: n.region, role: "unreachable" };
        }
      }),
    );
    this.states = states;
    for (const s of states) {
      if (s.lagSeconds !== undefined) this.lag.set({ node: s.name, region: s.region }, Math.round(s.lagSeconds * 100) / 100);
      else this.lag.remove({ node: s.name, region: s.region });
    }
    // the primary as the Sentinels name it (what every client is sent to)
    const named = this.sentinelPrimary();
    if (named !== undefined && named !== this.primary) {
      if (this.primary !== undefined) this.note({ t: Date.now(), kind: "session-primary", backend: "session", server: named, reason: `was ${this.primary}` });
      this.primary = named;
      for (const n of this.l.nodes) this.isPrimary.set({ node: n.name, region: n.region }, n.name === named ? 1 : 0);
    }
  }

  /** The node behind the address ioredis' Sentinel connection reached last. */
  private sentinelPrimary(): string | undefined {
    const r = this.client?.redis;
    if (r?.status !== "ready") return undefined;
    const port = (r.stream as { remotePort?: number } | undefined)?.remotePort;
    return this.l.nodes.find((n) => n.proxyPort === port)?.name;
  }

  state(): { primary: string | null; nodes: NodeState[] } {
    return { primary: this.primary ?? null, nodes: this.states };
  }

  async read(ids: readonly string[]): Promise<Record<string, string[]>> {
    if (this.client === undefined) throw new FaultlineError("E_TARGET", "the session store is not started");
    return this.client.read(ids);
  }

  stop(): void {
    clearInterval(this.timer);
    this.client?.close();
    for (const r of this.direct.values()) r.disconnect();
  }
}
