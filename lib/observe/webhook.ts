import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { EventSink } from "./observer.ts";

interface Notification {
  /** the Alertmanager receiver that sent it (its route chose it) */
  receiver?: string;
  status?: string;
  alerts?: { status?: string; labels?: Record<string, string> }[];
}

export interface WebhookReceiver {
  url: string;
  received: number;
  stop(): Promise<void>;
}

/** An Alertmanager webhook receiver on loopback for one run: each notification lands in the timeline. */
export async function startWebhookReceiver(event: EventSink): Promise<WebhookReceiver> {
  const state = { received: 0 };
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      if (body.length < 1 << 20) body += c.toString();
    });
    req.on("end", () => {
      res.end();
      let n: Notification;
      try {
        n = JSON.parse(body) as Notification;
      } catch {
        event("observer.error", "webhook: a notification that is not JSON", { observer: "webhook" });
        return;
      }
      state.received++;
      for (const a of n.alerts ?? []) {
        const labels = a.labels ?? {};
        const resolved = a.status === "resolved";
        const via = n.receiver !== undefined ? ` to ${n.receiver}` : "";
        event(resolved ? "alert.delivered-resolved" : "alert.delivered", `${labels.alertname} ${resolved ? "resolved" : "firing"} notification delivered${via}`, { labels, ...(n.receiver !== undefined ? { receiver: n.receiver } : {}) });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alertmanager`,
    get received() {
      return state.received;
    },
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
