import { startHostMonitor } from "../observe/host.ts";
import { FROZEN_EVENT, frozenMessage } from "../judge/instrument.ts";
import type { HostMonitor } from "../observe/host.ts";
import { kubernetesObserver } from "../observe/kubernetes.ts";
import type { EventSink, Observer } from "../observe/observer.ts";
import { prometheusAlerts } from "../observe/prometheus.ts";
import { rolloutEvents } from "../observe/rollout.ts";
import { SessionClient, hostPort } from "../clients/sessions.ts";
import { sessionPrimaryObserver } from "../observe/session-store.ts";
import { stackLane } from "../observe/stack-lane.ts";
import { errorMessage } from "../errors.ts";
import type { GatewayEvent } from "../schema/gateway-event.ts";
import type { GatewayRecord, RunRecord } from "../schema/run-record.ts";
import { auditSessions } from "../judge/sessions.ts";
import type { Target } from "../schema/target.ts";

/** What is watched during a run, by name: each observer starts when the target has what it watches. */
const OBSERVERS = {
  "prometheus-alerts": (t: Target, event: EventSink) => (t.prometheus ? prometheusAlerts(t.prometheus.url, event) : undefined),
  "stack-rollout": (t: Target, event: EventSink) => (t.stack?.rollout ? rolloutEvents(t.stack.rollout, event) : undefined),
  kubernetes: (t: Target, event: EventSink) => (t.kubernetes ? kubernetesObserver(t.kubernetes, event) : undefined),
  "session-store": (t: Target, event: EventSink) => (t.sessions ? sessionPrimaryObserver(t.sessions, event) : undefined),
} satisfies Record<string, (t: Target, event: EventSink) => Observer | undefined>;

export type ObserverName = keyof typeof OBSERVERS;

/** The observers this target calls for, started; one that fails to start is reported, never ends the run. */
export async function startObservers(target: Target, event: EventSink): Promise<Observer[]> {
  const started: Observer[] = [];
  for (const make of Object.values(OBSERVERS)) {
    const o = make(target, event);
    if (o === undefined) continue;
    await o.start();
    started.push(o);
  }
  return started;
}

export async function stopObservers(observers: Observer[]): Promise<void> {
  for (const o of observers.splice(0)) await o.stop().catch(() => undefined);
}

/** The host's CPU sampled into the run's record; a starved host is said in the timeline when it starts. */
export function watchHost(record: RunRecord, sut: () => number[] | undefined, event: EventSink): HostMonitor {
  record.series.host = [];
  return startHostMonitor(
    record.series.host,
    sut,
    (s) => event("host.starved", `other work takes ${s.other} of ${s.cores} cores: the system and the load generator are starved alike`, { other: s.other, busy: s.busy, own: s.own, sut: s.sut }),
    (f) => event(FROZEN_EVENT, frozenMessage(f), { ...f }),
  );
}

/**
 * The stack's side of the run, read while the target's Prometheus and control API still answer:
 * its lane (where the time went) and the gateway's own record of servers marked DOWN and UP,
 * which goes into the timeline at HAProxy's own timestamps. A failed read is a warning, never the
 * run's end.
 */
export async function readStackSide(record: RunRecord, target: Target | undefined, warn: (message: string) => void): Promise<void> {
  const url = target?.prometheus?.url;
  if (url !== undefined) {
    const lane = await stackLane(url, record.startedAt, record.endedAt ?? Date.now(), warn);
    if (lane.length > 0) record.series.stack = lane;
  }
  const control = target?.stack?.control ?? target?.endpoints["stack-control"]?.url;
  // a store the target file names is read directly (the kubernetes target's stack runs none of its own)
  const store = target?.sessions !== undefined ? storeReader(target.sessions) : control !== undefined ? controlReader(control) : undefined;
  if (store !== undefined) await readSessions(record, store, warn);
  if (control === undefined) return;
  try {
    const res = await fetch(`${control}/gateway/events?since=${record.startedAt}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return; // a stack from before the route
    const { events } = (await res.json()) as { events: GatewayEvent[] };
    for (const e of events) record.timeline.push({ t: e.t, type: e.kind.startsWith("session-") ? `session.${e.kind.slice(8)}` : `gateway.${e.kind}`, message: gatewayMessage(e), data: { ...e } });
    record.timeline.sort((a, b) => a.t - b.t);
  } catch (err) {
    warn(`the gateway's record: ${errorMessage(err)}`);
  }
  await readGatewayBuckets(record, control, warn);
}

/** The gateway's own record per 100 ms of accept time over the run (`series.gateway`): a second side to time a failover from. */
async function readGatewayBuckets(record: RunRecord, control: string, warn: (message: string) => void): Promise<void> {
  try {
    const res = await fetch(`${control}/gateway/buckets?since=${record.startedAt}`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) return; // a stack from before the route
    const g = (await res.json()) as GatewayRecord;
    const end = record.endedAt ?? Date.now();
    const buckets = g.buckets.filter((b) => b.t >= record.startedAt && b.t < end);
    if (buckets.length > 0) record.series.gateway = { ...g, buckets };
  } catch (err) {
    warn(`the gateway's record per 100 ms: ${errorMessage(err)}`);
  }
}

/** Ids per read: a few hundred conversations' turns in one answer. */
const AUDIT_BATCH = 500;

/** Where the audit reads turns back: each id's list as the store's primary holds it now. */
interface StoreReader {
  read(ids: readonly string[]): Promise<Record<string, string[]>>;
  close(): void;
}

function controlReader(control: string): StoreReader {
  return {
    read: async (ids) => {
      const res = await fetch(`${control}/sessions/read`, { method: "POST", body: JSON.stringify({ ids }), signal: AbortSignal.timeout(10_000) });
      const body = (await res.json()) as { sessions?: Record<string, string[]>; error?: string };
      if (!res.ok || body.sessions === undefined) throw new Error(body.error ?? `HTTP ${res.status}`);
      return body.sessions;
    },
    close: () => undefined,
  };
}

/** A client of the store the target file names, connected on the first read (a run without conversations never connects). */
function storeReader(s: NonNullable<Target["sessions"]>): StoreReader {
  let client: SessionClient | undefined;
  const open = (): SessionClient =>
    (client ??= new SessionClient({
      master: s.master,
      sentinels: s.sentinels.map(hostPort),
      natMap: Object.fromEntries(Object.entries(s.natMap).map(([from, to]) => [from, hostPort(to)])),
      waitReplicas: 0,
      waitTimeoutMs: 0,
      commandTimeoutMs: 2000,
    }));
  return { read: async (ids) => (await open().ready(10_000)).read(ids), close: () => client?.close() };
}

/**
 * The session audit (lib/judge/sessions.ts): the turns clients were told were kept, looked up in the
 * store (through the stack's control API, or the one the target file names), then the ledger is
 * dropped from the series (the audit keeps the lost ones). A store that cannot be read is recorded
 * as such: nothing is counted then.
 */
async function readSessions(record: RunRecord, store: StoreReader, warn: (message: string) => void): Promise<void> {
  const acks = record.series.load?.sessionAcks;
  if (acks === undefined) return store.close();
  const ids = Object.keys(acks.acked);
  const stored: Record<string, string[]> = {};
  try {
    for (let i = 0; i < ids.length; i += AUDIT_BATCH) Object.assign(stored, await store.read(ids.slice(i, i + AUDIT_BATCH)));
    const audit = auditSessions(acks, stored, Date.now());
    record.sessions = audit;
    if (audit.lost > 0) {
      const t = audit.recoveryPoint ?? audit.lostTurns[0]?.t ?? record.startedAt;
      record.timeline.push({ t, type: "session.lost", message: `session store: ${audit.lost} of ${audit.acknowledged} acknowledged turns lost, written from here to +${(((audit.newestLost ?? t) - t) / 1000).toFixed(1)}s`, data: { lost: audit.lost, acknowledged: audit.acknowledged, rpoMs: audit.rpoMs } });
      record.timeline.sort((a, b) => a.t - b.t);
    }
  } catch (err) {
    warn(`the session audit: ${errorMessage(err)}`);
    record.sessions = { checkedAt: Date.now(), sessions: ids.length, acknowledged: 0, lost: 0, lostTurns: [], rpoMs: null, error: errorMessage(err) };
  } finally {
    store.close();
  }
  if (record.series.load) delete record.series.load.sessionAcks;
}

function gatewayMessage(e: GatewayEvent): string {
  if (e.kind === "session-primary") return `session store: ${e.server} is the primary now (Sentinel failover; ${e.reason ?? ""})`;
  if (e.kind === "backend-empty") return `gateway: backend ${e.backend} has no server left`;
  if (e.kind === "server-ejected") return `gateway: ${e.server} ejected${e.reason ? ` (${e.reason})` : ""}`;
  if (e.kind === "server-returned") return `gateway: ${e.server} back to its weight${e.reason ? ` (${e.reason})` : ""}`;
  return `gateway: ${e.server} marked ${e.kind === "server-up" ? "UP" : "DOWN"}${e.reason ? ` (${e.reason})` : ""}`;
}
