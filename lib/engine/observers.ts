import { startHostMonitor } from "../observe/host.ts";
import type { HostMonitor } from "../observe/host.ts";
import { kubernetesObserver } from "../observe/kubernetes.ts";
import type { EventSink, Observer } from "../observe/observer.ts";
import { prometheusAlerts } from "../observe/prometheus.ts";
import { rolloutEvents } from "../observe/rollout.ts";
import { stackLane } from "../observe/stack-lane.ts";
import { errorMessage } from "../errors.ts";
import type { GatewayEvent } from "../schema/gateway-event.ts";
import type { RunRecord } from "../schema/run-record.ts";
import type { Target } from "../schema/target.ts";

/** What is watched during a run, by name: each observer starts when the target has what it watches. */
const OBSERVERS = {
  "prometheus-alerts": (t: Target, event: EventSink) => (t.prometheus ? prometheusAlerts(t.prometheus.url, event) : undefined),
  "stack-rollout": (t: Target, event: EventSink) => (t.stack?.rollout ? rolloutEvents(t.stack.rollout, event) : undefined),
  kubernetes: (t: Target, event: EventSink) => (t.kubernetes ? kubernetesObserver(t.kubernetes, event) : undefined),
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
  return startHostMonitor(record.series.host, sut, (s) =>
    event("host.starved", `other work takes ${s.other} of ${s.cores} cores: the system and the load generator are starved alike`, { other: s.other, busy: s.busy, own: s.own, sut: s.sut }),
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
  if (control === undefined) return;
  try {
    const res = await fetch(`${control}/gateway/events?since=${record.startedAt}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return; // a stack from before the route
    const { events } = (await res.json()) as { events: GatewayEvent[] };
    for (const e of events) record.timeline.push({ t: e.t, type: `gateway.${e.kind}`, message: gatewayMessage(e), data: { ...e } });
    record.timeline.sort((a, b) => a.t - b.t);
  } catch (err) {
    warn(`the gateway's record: ${errorMessage(err)}`);
  }
}

function gatewayMessage(e: GatewayEvent): string {
  if (e.kind === "backend-empty") return `gateway: backend ${e.backend} has no server left`;
  if (e.kind === "server-ejected") return `gateway: ${e.server} ejected${e.reason ? ` (${e.reason})` : ""}`;
  if (e.kind === "server-returned") return `gateway: ${e.server} back to its weight${e.reason ? ` (${e.reason})` : ""}`;
  return `gateway: ${e.server} marked ${e.kind === "server-up" ? "UP" : "DOWN"}${e.reason ? ` (${e.reason})` : ""}`;
}
