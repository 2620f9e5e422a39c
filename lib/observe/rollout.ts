import type { EventSink, Observer } from "./observer.ts";
import { poller } from "./observer.ts";

/** The rollout controller's event log, polled: steps, analyses, rollbacks, promotions. */
export function rolloutEvents(url: string, event: EventSink, everyMs = 1000): Observer {
  let since = Date.now();
  return poller(
    "rollout events",
    everyMs,
    async () => {
      const res = await fetch(`${url.replace(/\/$/, "")}/rollouts/events?since=${since}`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`GET ${url}/rollouts/events answered ${res.status}`);
      const body = (await res.json()) as { events: { t: number; type: string; message: string; data?: Record<string, unknown> }[] };
      for (const e of body.events) {
        if (e.t < since) continue;
        event(`rollout.${e.type}`, e.message, { ...e.data, at: e.t });
        since = e.t + 1;
      }
    },
    event,
  );
}
