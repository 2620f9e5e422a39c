import { Redis } from "ioredis";
import { hostPort } from "../clients/sessions.ts";
import type { Target } from "../schema/target.ts";
import type { EventSink, Observer } from "./observer.ts";
import { poller } from "./observer.ts";

type SessionStore = NonNullable<Target["sessions"]>;

/**
 * The primary of a session store given in the target file, as its Sentinels name it, polled: a
 * new one is a `session.primary` event in the timeline (a failover), as the reference stack's
 * supervisor reports its own. The answer most Sentinels give wins: one cut off with the old
 * primary keeps naming it.
 */
export function sessionPrimaryObserver(s: SessionStore, event: EventSink, everyMs = 500): Observer {
  const sentinels = s.sentinels.map(
    (a) => new Redis({ ...hostPort(a), lazyConnect: true, enableOfflineQueue: false, connectTimeout: 1000, commandTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => 500 }),
  );
  for (const r of sentinels) r.on("error", () => undefined); // an unreachable Sentinel is outvoted, not an error
  let primary: string | undefined;
  const inner = poller(
    "session store's Sentinels",
    everyMs,
    async () => {
      const answers = await Promise.allSettled(sentinels.map(async (r) => (await r.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master)) as [string, string] | null));
      const votes = new Map<string, number>();
      for (const a of answers) if (a.status === "fulfilled" && a.value) votes.set(a.value.join(":"), (votes.get(a.value.join(":")) ?? 0) + 1);
      const [top] = [...votes].sort((a, b) => b[1] - a[1]);
      if (top === undefined) throw new Error(`no Sentinel of ${s.sentinels.join(", ")} names a primary for ${s.master}`);
      if (primary !== undefined && top[0] !== primary) event("session.primary", `session store: ${top[0]} is the primary now (was ${primary}; ${top[1]} of ${s.sentinels.length} Sentinels say so)`, { server: top[0], previous: primary });
      primary = top[0];
    },
    event,
  );
  return {
    name: inner.name,
    start: async () => {
      await Promise.allSettled(sentinels.map((r) => r.connect()));
      await inner.start();
    },
    stop: async () => {
      await inner.stop();
      for (const r of sentinels) r.disconnect();
    },
  };
}
