import { Redis } from "ioredis";
import { errorMessage } from "../errors.ts";

/** What a client of the store is handed (an inference replica's, the supervisor's). */
export interface SessionClientConfig {
  master: string;
  /** the Sentinels' announced addresses, the client's own region's first */
  sentinels: { host: string; port: number }[];
  /** announced address (`host:port`) → the client path to that node */
  natMap: Record<string, { host: string; port: number }>;
  waitReplicas: number;
  waitTimeoutMs: number;
  commandTimeoutMs: number;
}

/** The key a session's turns are kept under (a list, one entry per acknowledged turn). */
export function sessionKey(id: string): string {
  return `session:{${id}}`;
}

/** host:port (as a target file writes it) → ioredis' address. */
export function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** A turn written: acknowledged (held by `waitReplicas` replicas), or why not. */
export type TurnWrite = { acked: true; history: number } | { acked: false; why: string };

/** At most one reconnect (a fresh question to the Sentinels) this often. */
const RECONNECT_EVERY_MS = 500;

/**
 * A client of the session store as an application keeps one: the primary found through the
 * Sentinels (its own region's first), every command with a deadline. A deadline missed or a
 * READONLY reply (a primary demoted under it) makes it ask the Sentinels again, so a failover is
 * followed within a command timeout; while it is not connected commands fail at once (no offline
 * queue), as a request must not wait for a store that is gone.
 */
export class SessionClient {
  private readonly cfg: SessionClientConfig;
  readonly redis: Redis;
  private lastReconnect = 0;

  constructor(cfg: SessionClientConfig) {
    this.cfg = cfg;
    this.redis = new Redis({
      sentinels: cfg.sentinels,
      name: cfg.master,
      natMap: cfg.natMap,
      updateSentinels: false, // keep the local Sentinel first
      sentinelCommandTimeout: cfg.commandTimeoutMs,
      sentinelRetryStrategy: () => 200,
      retryStrategy: () => 200,
      reconnectOnError: (err) => (/READONLY|NOREPLICAS/.test(err.message) ? 2 : false),
      failoverDetector: true,
      connectTimeout: cfg.commandTimeoutMs,
      commandTimeout: cfg.commandTimeoutMs + cfg.waitTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: false,
    });
    this.redis.on("error", () => undefined); // each command reports its own failure
  }

  /** Once connected to the primary the Sentinels name (commands fail at once before: no offline queue). */
  async ready(timeoutMs: number): Promise<this> {
    if (this.redis.status === "ready") return this;
    let timer: NodeJS.Timeout | undefined;
    let onReady = (): void => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        onReady = resolve;
        this.redis.once("ready", onReady);
        timer = setTimeout(() => reject(new Error(`no primary for ${this.cfg.master} from the Sentinels ${this.cfg.sentinels.map((s) => `${s.host}:${s.port}`).join(", ")} within ${timeoutMs}ms`)), timeoutMs);
      });
      return this;
    } finally {
      clearTimeout(timer);
      this.redis.off("ready", onReady);
    }
  }

  /** Ask the Sentinels again (after a deadline missed: the primary may be gone, or partitioned away). */
  private reconnect(): void {
    const now = Date.now();
    if (now - this.lastReconnect < RECONNECT_EVERY_MS) return;
    this.lastReconnect = now;
    this.redis.disconnect(true);
  }

  private async deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms}ms`)), ms)))]);
    } catch (err) {
      if (/no answer|timed out|READONLY/i.test(errorMessage(err))) this.reconnect();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reads the session's history, appends turn `turn`, and waits for `waitReplicas` replicas to hold
   * it (WAIT): only then is it acknowledged. A turn written but not acknowledged may survive or
   * not; the client was not told it did.
   */
  async appendTurn(id: string, turn: number): Promise<TurnWrite> {
    const key = sessionKey(id);
    try {
      const r = await this.deadline(this.redis.multi().lrange(key, 0, -1).rpush(key, String(turn)).expire(key, 86_400).exec(), this.cfg.commandTimeoutMs, "append");
      const err = r?.find(([e]) => e !== null)?.[0];
      if (r === null || err) return { acked: false, why: err ? errorMessage(err) : "transaction discarded" };
      const history = (r[0]?.[1] as string[] | undefined)?.length ?? 0;
      if (this.cfg.waitReplicas > 0) {
        const held = Number(await this.deadline(this.redis.wait(this.cfg.waitReplicas, this.cfg.waitTimeoutMs), this.cfg.commandTimeoutMs + this.cfg.waitTimeoutMs, "WAIT"));
        if (held < this.cfg.waitReplicas) return { acked: false, why: `${held} of ${this.cfg.waitReplicas} replica(s) acknowledged within ${this.cfg.waitTimeoutMs}ms` };
      }
      return { acked: true, history };
    } catch (err) {
      return { acked: false, why: errorMessage(err) };
    }
  }

  /** Every listed session's turns as the primary holds them now. */
  async read(ids: readonly string[]): Promise<Record<string, string[]>> {
    const p = this.redis.pipeline();
    for (const id of ids) p.lrange(sessionKey(id), 0, -1);
    const r = (await this.deadline(p.exec(), this.cfg.commandTimeoutMs * 5, "read")) ?? [];
    const out: Record<string, string[]> = {};
    ids.forEach((id, i) => {
      const [err, v] = r[i] ?? [new Error("no reply"), null];
      if (err) throw err;
      out[id] = v as string[];
    });
    return out;
  }

  close(): void {
    this.redis.disconnect(false);
  }
}
