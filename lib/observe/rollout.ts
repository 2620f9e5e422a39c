import type { EventSink, Observer } from "./observer.ts";
import { poller } from "./observer.ts";

/** The rollout controller's event log, polled: steps, analyses, rollbacks, promotions. */
export function rolloutEvents(url: string, event: EventSink, everyMs = 1000): Observer {
  const since = Date.now();
  let after = -1;
  return poller(
    "rollout events",
    everyMs,
    async () => {
      // `after` a sequence number, not a time: two events of the same millisecond are both seen
      const res = await fetch(`${url.replace(/\/$/, "")}/rollouts/events?since=${since}&after=${after}`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`GET ${url}/rollouts/events answered ${res.status}`);
      const body = (await res.json()) as { events: { seq: number; t: number; type: string; message: string; data?: Record<string, unknown> }[] };
      for (const e of body.events) {
        if (e.seq <= after) continue;
        event(`rollout.${e.type}`, e.message, { ...e.data, at: e.t });
        after = e.seq;
      }
    },
    event,
  );
}
