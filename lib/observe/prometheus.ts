import type { EventSink, Observer } from "./observer.ts";
import { poller } from "./observer.ts";
import { ALERTS_OBSERVER, alertKey } from "../judge/alert.ts";

interface PromAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
  activeAt?: string;
}

/**
 * Alert states from Prometheus' alerts API every second: each transition (pending, firing,
 * resolved) lands in the timeline with the alert's labels.
 */
export function prometheusAlerts(url: string, event: EventSink, everyMs = 1000): Observer {
  const known = new Map<string, PromAlert>();
  let first = true;
  return poller(
    ALERTS_OBSERVER,
    everyMs,
    async () => {
      const res = await fetch(`${url.replace(/\/$/, "")}/api/v1/alerts`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`GET ${url}/api/v1/alerts answered ${res.status}`);
      const body = (await res.json()) as { data?: { alerts?: PromAlert[] } };
      if (first) event("observer.prometheus", `watching alerts at ${url}`, { ok: true });
      first = false;
      const now = new Map<string, PromAlert>();
      for (const a of body.data?.alerts ?? []) now.set(alertKey(a.labels), a);
      for (const [k, a] of now) {
        const before = known.get(k);
        if (before?.state === a.state) continue;
        if (a.state === "pending" || before === undefined) {
          if (a.state === "pending") event("alert.pending", `${a.labels.alertname} pending ${describe(a.labels)}`, { labels: a.labels, activeAt: a.activeAt });
        }
        if (a.state === "firing") event("alert.firing", `${a.labels.alertname} firing ${describe(a.labels)}`, { labels: a.labels, activeAt: a.activeAt });
      }
      for (const [k, a] of known) {
        if (!now.has(k)) event("alert.resolved", `${a.labels.alertname} resolved ${describe(a.labels)}`, { labels: a.labels });
      }
      known.clear();
      for (const [k, a] of now) known.set(k, a);
    },
    event,
  );
}

function describe(labels: Record<string, string>): string {
  const shown = Object.entries(labels).filter(([k]) => k !== "alertname" && k !== "source");
  return shown.length ? `{${shown.map(([k, v]) => `${k}=${v}`).join(",")}}` : "";
}
