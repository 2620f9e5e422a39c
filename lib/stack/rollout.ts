import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Counter, Gauge, Registry } from "prom-client";
import { readBody } from "./http.ts";
import type { StackConfig } from "./config.ts";

export interface RolloutReplica {
  name: string;
  region: string;
  adminUrl: string;
}

export interface RolloutEvent {
  /** increasing: events of the same millisecond stay apart */
  seq: number;
  t: number;
  type: "started" | "step" | "analysis" | "promoted" | "rolled-back" | "paused" | "failed";
  message: string;
  data?: Record<string, unknown>;
}

interface Rollout {
  id: number;
  model: string;
  version: string;
  stable: string;
  state: "running" | "promoted" | "rolled-back" | "paused" | "failed";
  stepPct: number;
  canaries: string[];
  startedAt: number;
  endedAt?: number;
}

/**
 * Canary rollouts of a model version across the replicas, in steps; each step is held for an
 * analysis interval in which Prometheus says whether the canary's error rate and p95 stay within
 * limits against the stable version. A step covers ceil(pct × replicas) replicas: with a handful
 * of replicas 5 % means one replica (the stack README says so).
 */
export class RolloutController {
  private readonly c: StackConfig;
  private readonly replicas: readonly RolloutReplica[];
  private readonly prometheus: string;
  private readonly server: Server;
  private readonly registry = new Registry();
  private readonly events: RolloutEvent[] = [];
  private current: Rollout | undefined;
  private stable: string;
  private history: string[];
  private nextId = 1;
  private stopped = false;
  private aborted = false;
  private readonly metrics;

  constructor(c: StackConfig, replicas: readonly RolloutReplica[], prometheusUrl: string) {
    this.c = c;
    this.replicas = replicas;
    this.prometheus = prometheusUrl;
    this.stable = c.replica.version;
    this.history = [c.replica.version];
    const r = [this.registry];
    this.metrics = {
      step: new Gauge({ name: "rollout_step", help: "Traffic percent of the canary in the current rollout (0 when none)", registers: r }),
      rollbacks: new Counter({ name: "rollout_rollbacks_total", help: "Rollouts rolled back automatically", registers: r }),
      promotions: new Counter({ name: "rollout_promotions_total", help: "Rollouts promoted to 100%", registers: r }),
    };
    this.metrics.step.set(0);
    this.metrics.rollbacks.inc(0);
    this.server = createServer((req, res) => void this.route(req, res));
  }

  listen(port: number, host = "127.0.0.1"): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
  }

  close(): Promise<void> {
    this.stopped = true;
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private seq = 0;

  private event(type: RolloutEvent["type"], message: string, data?: Record<string, unknown>): void {
    this.events.push({ seq: ++this.seq, t: Date.now(), type, message, ...(data ? { data } : {}) });
    if (this.events.length > 1000) this.events.shift();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (code: number, body: unknown, type = "application/json"): void => {
      res.writeHead(code, { "content-type": type });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    const url = req.url ?? "/";
    if (url === "/metrics") return send(200, await this.registry.metrics(), this.registry.contentType);
    if (url === "/healthz") return send(200, "ok", "text/plain");
    if (url === "/rollouts/current" && req.method === "GET") return send(200, { rollout: this.current ?? null, stable: this.stable, history: this.history });
    if (url.startsWith("/rollouts/events") && req.method === "GET") {
      const q = new URL(url, "http://x").searchParams;
      const after = Number(q.get("after") ?? -1);
      const since = Number(q.get("since") ?? 0);
      return send(200, { events: this.events.filter((e) => e.seq > after && e.t >= since) });
    }
    if (url === "/rollouts/abort" && req.method === "POST") {
      // Restores a version everywhere and makes it stable: how faultline reverts a bad rollout it started.
      let body: { stable?: string } = {};
      try {
        body = JSON.parse((await readBody(req)) || "{}") as typeof body;
      } catch {
        return send(400, { error: "body is not JSON" });
      }
      const stable = body.stable ?? this.current?.stable ?? this.stable;
      const r = this.current;
      if (r !== undefined && (r.state === "running" || r.state === "paused")) {
        r.state = "failed";
        r.endedAt = Date.now();
      }
      this.aborted = true;
      await this.setVersion(this.replicas.map((x) => x.name), stable);
      this.stable = stable;
      this.metrics.step.set(0);
      this.event("failed", `rollout aborted from outside; ${stable} restored everywhere`, { stable });
      return send(200, { stable });
    }
    if (url === "/rollouts" && req.method === "POST") {
      let body: { model?: string; version?: string; regression?: Record<string, number> };
      try {
        body = JSON.parse(await readBody(req)) as typeof body;
      } catch {
        return send(400, { error: "body is not JSON" });
      }
      if (typeof body.version !== "string" || body.version === "") return send(400, { error: "body needs {version}" });
      if (this.current?.state === "running") return send(409, { error: `rollout ${this.current.id} of ${this.current.version} is still running` });
      const rollout: Rollout = {
        id: this.nextId++,
        model: body.model ?? this.c.replica.model,
        version: body.version,
        stable: this.stable,
        state: "running",
        stepPct: 0,
        canaries: [],
        startedAt: Date.now(),
      };
      this.current = rollout;
      this.aborted = false;
      this.event("started", `rollout ${rollout.id}: ${rollout.model}:${rollout.version} (stable ${rollout.stable})`, { id: rollout.id, version: rollout.version });
      void this.run(rollout, body.regression).catch((err: unknown) => {
        rollout.state = "failed";
        rollout.endedAt = Date.now();
        this.event("failed", `rollout ${rollout.id} failed: ${err instanceof Error ? err.message : String(err)}`);
      });
      return send(202, { rollout });
    }
    send(404, { error: `no route ${req.method} ${url}` });
  }

  private async setVersion(names: readonly string[], version: string, regression?: Record<string, number>): Promise<void> {
    await Promise.all(
      this.replicas
        .filter((r) => names.includes(r.name))
        .map(async (r) => {
          try {
            await fetch(`${r.adminUrl}/admin/version`, { method: "POST", body: JSON.stringify({ version, ...(regression ? { regression } : {}) }), signal: AbortSignal.timeout(2000) });
          } catch {
            // a replica that is down picks the stable version up from config when it restarts
          }
        }),
    );
  }

  /** Active replicas interleaved across regions, so a canary spreads over regions first. */
  private order(): string[] {
    const active = this.replicas.filter((r) => this.c.regions.find((g) => g.name === r.region)?.standby !== true);
    const byRegion = new Map<string, RolloutReplica[]>();
    for (const r of active) byRegion.set(r.region, [...(byRegion.get(r.region) ?? []), r]);
    const out: string[] = [];
    for (let i = 0; out.length < active.length; i++) {
      for (const list of byRegion.values()) {
        const r = list[i];
        if (r) out.push(r.name);
      }
    }
    return out;
  }

  private async query(expr: string): Promise<number | undefined> {
    const res = await fetch(`${this.prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
    const v = body.data?.result?.[0]?.value?.[1];
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  }

  /** The analysis window: the interval, but never under four scrapes (rate() needs two points). */
  private window(): string {
    return `${Math.max(Math.round(this.c.rollout.analysisIntervalSeconds), Math.ceil(4 * this.c.prometheus.scrapeIntervalSeconds))}s`;
  }

  private async analyse(version: string, baselineP95: number | undefined): Promise<{ ok: boolean; reason: string; data: Record<string, unknown> }> {
    const w = this.window();
    // A version without any 5xx has no 5xx series: `or vector(0)` makes that a 0 % error rate, not "no data".
    const errRate = await this.query(
      `(sum(rate(inference_requests_total{version="${version}",code=~"5.."}[${w}])) or vector(0)) / sum(rate(inference_requests_total{version="${version}"}[${w}]))`,
    );
    const p95 = await this.query(`histogram_quantile(0.95, sum by (le) (rate(inference_request_duration_seconds_bucket{version="${version}"}[${w}])))`);
    const data = { errorRatePct: errRate === undefined ? null : errRate * 100, p95Seconds: p95 ?? null, baselineP95Seconds: baselineP95 ?? null };
    if (errRate === undefined) return { ok: false, reason: "no canary traffic to analyse", data };
    if (errRate * 100 > this.c.rollout.maxErrorRatePct) {
      return { ok: false, reason: `canary error rate ${(errRate * 100).toFixed(2)}% > ${this.c.rollout.maxErrorRatePct}%`, data };
    }
    if (p95 !== undefined && baselineP95 !== undefined && baselineP95 > 0 && p95 > baselineP95 * this.c.rollout.maxLatencyRatio) {
      return { ok: false, reason: `canary p95 ${(p95 * 1000).toFixed(0)}ms > ${this.c.rollout.maxLatencyRatio} × stable ${(baselineP95 * 1000).toFixed(0)}ms`, data };
    }
    return { ok: true, reason: "within limits", data };
  }

  private async run(r: Rollout, regression?: Record<string, number>): Promise<void> {
    const order = this.order();
    const w = this.window();
    const baselineP95 = await this.query(`histogram_quantile(0.95, sum by (le) (rate(inference_request_duration_seconds_bucket{version="${r.stable}"}[${w}])))`);
    for (const pct of this.c.rollout.steps) {
      if (this.stopped || this.aborted) return;
      const n = Math.max(1, Math.ceil((pct / 100) * order.length));
      const fresh = order.slice(r.canaries.length, n);
      r.canaries = order.slice(0, n);
      r.stepPct = pct;
      await this.setVersion(fresh, r.version, regression);
      this.metrics.step.set(pct);
      this.event("step", `rollout ${r.id}: ${pct}% (${r.canaries.length}/${order.length} replicas on ${r.version})`, { pct, canaries: r.canaries });
      await new Promise((res) => setTimeout(res, this.c.rollout.analysisIntervalSeconds * 1000));
      if (this.stopped || this.aborted) return;
      const a = await this.analyse(r.version, baselineP95);
      this.event("analysis", `rollout ${r.id} at ${pct}%: ${a.reason}`, { pct, ok: a.ok, ...a.data });
      if (!a.ok) {
        if (!this.c.rollout.autoRollback) {
          r.state = "paused";
          this.event("paused", `rollout ${r.id} paused at ${pct}%: ${a.reason} (autoRollback is off)`);
          return;
        }
        await this.setVersion(order.concat(this.replicas.map((x) => x.name)), r.stable);
        r.state = "rolled-back";
        r.endedAt = Date.now();
        r.canaries = [];
        this.metrics.rollbacks.inc();
        this.metrics.step.set(0);
        this.event("rolled-back", `rollout ${r.id} rolled back to ${r.stable}: ${a.reason}`, { reason: a.reason, stable: r.stable });
        return;
      }
    }
    await this.setVersion(this.replicas.map((x) => x.name), r.version, regression);
    this.stable = r.version;
    this.history = [r.version, ...this.history.filter((v) => v !== r.version)].slice(0, this.c.rollout.keepVersions);
    r.state = "promoted";
    r.endedAt = Date.now();
    this.metrics.promotions.inc();
    this.metrics.step.set(0);
    this.event("promoted", `rollout ${r.id}: ${r.version} promoted to 100%`, { version: r.version });
  }
}
