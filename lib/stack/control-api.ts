import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayEvent } from "../schema/gateway-event.ts";
import type { GatewayRecord } from "../schema/run-record.ts";
import { readBody, sendJson as json } from "./http.ts";

export type ReplicaAction = "kill" | "start" | "freeze" | "thaw";

/** What the control API can ask of the supervisor behind it. */
export interface Controllable {
  metrics(): Promise<{ contentType: string; body: string }>;
  state(): unknown;
  /** kill or start a replica; undefined when there is no such replica, with the names there are */
  replica(name: string, action: ReplicaAction, body: { signal?: NodeJS.Signals; restart?: boolean }): { ok: true; state: unknown } | { ok: false; have: string[] };
  /** the gateway's own record since `since` (epoch ms): servers marked DOWN and UP, a backend left empty */
  gatewayEvents(since: number): GatewayEvent[];
  /** the gateway's own record per 100 ms of accept time since `since` (epoch ms), for as long as it keeps one (20 minutes) */
  gatewayBuckets(since: number): Promise<GatewayRecord>;
  /** the session store: turns as the primary holds them now, and each node's role and lag (null: no store) */
  sessions: { read(ids: string[]): Promise<Record<string, string[]>>; state(): unknown };
  /** point Alertmanager's webhook at a run's receiver (or at nothing), and reload it */
  setWebhook(url: string | undefined): Promise<boolean>;
}

/**
 * The stack's control API: replicas killed, started, frozen and thawed (the stack's faults), the state, the
 * supervisor's metrics, the gateway's own record of its decisions, and the alerting webhook a run
 * points at itself.
 */
export async function route(s: Controllable, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? "/";
  if (url === "/metrics") {
    const m = await s.metrics();
    res.writeHead(200, { "content-type": m.contentType });
    res.end(m.body);
    return;
  }
  if (url === "/healthz") return json(res, 200, { ok: true });
  if (url === "/state") return json(res, 200, s.state());
  const g = /^\/gateway\/events(?:\?since=(\d+))?$/.exec(url);
  if (g && req.method === "GET") return json(res, 200, { events: s.gatewayEvents(Number(g[1] ?? 0)) });
  const gb = /^\/gateway\/buckets(?:\?since=(\d+))?$/.exec(url);
  if (gb && req.method === "GET") return json(res, 200, await s.gatewayBuckets(Number(gb[1] ?? 0)));
  const m = /^\/replicas\/([^/]+)\/(kill|start|freeze|thaw)$/.exec(url);
  if (m && req.method === "POST") {
    const body = JSON.parse((await readBody(req)) || "{}") as { signal?: NodeJS.Signals; restart?: boolean };
    const r = s.replica(m[1] as string, m[2] as ReplicaAction, body);
    return r.ok ? json(res, 200, { replica: m[1], ...(r.state as object) }) : json(res, 404, { error: `no replica ${m[1]} (have: ${r.have.join(", ")})` });
  }
  if (url === "/sessions/state" && req.method === "GET") return json(res, 200, { store: s.sessions.state() });
  if (url === "/sessions/read" && req.method === "POST") {
    const body = JSON.parse((await readBody(req)) || "{}") as { ids?: unknown };
    const ids = Array.isArray(body.ids) ? body.ids.filter((x): x is string => typeof x === "string") : [];
    return json(res, 200, { sessions: await s.sessions.read(ids) });
  }
  if (url === "/alerting/webhook" && req.method === "POST") {
    const body = JSON.parse((await readBody(req)) || "{}") as { url?: string };
    const reloaded = await s.setWebhook(body.url);
    return json(res, reloaded ? 200 : 502, { webhookUrl: body.url ?? null, reloaded });
  }
  json(res, 404, { error: `no route ${req.method} ${url}` });
}
