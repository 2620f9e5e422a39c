import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";

/**
 * What the supervisor exports on the control API's /metrics: replicas up, their restarts and OOM kills,
 * outlier ejections, queue unjams, and the CPU time the host kept from the gateway (`stolenMs`: HAProxy's
 * own count, read at each scrape; undefined when it cannot be read).
 */
export function supervisorMetrics(registry: Registry, stolenMs: () => Promise<number | undefined> = () => Promise.resolve(undefined)) {
  const r = [registry];
  let lastStolenMs = 0;
  return {
    up: new Gauge({ name: "stack_replica_up", help: "1 while the replica process runs", labelNames: ["replica", "region", "zone"], registers: r }),
    restarts: new Counter({ name: "stack_replica_restarts_total", help: "Replica process exits, by reason", labelNames: ["replica", "region", "reason"], registers: r }),
    ooms: new Counter({ name: "stack_replica_oom_kills_total", help: "Replica processes that died of GPU OOM", labelNames: ["replica", "region"], registers: r }),
    ejections: new Counter({ name: "stack_outlier_ejections_total", help: "Servers ejected: for a failure rate above the limit, or for being slow among their region's servers", labelNames: ["server", "reason"], registers: r }),
    spill: new Gauge({ name: "stack_gateway_spill_percent", help: "Share of requests the gateway sends the standby region while the active regions are saturated", registers: r }),
    stolen: new Counter({
      name: "stack_gateway_cpu_stolen_seconds_total",
      help: "Time the gateway's threads were kept off a CPU while they had work (HAProxy's show activity, cpust_ms_tot): what a host shared with the load took from the gateway",
      registers: r,
      async collect() {
        const ms = await stolenMs().catch(() => undefined);
        if (ms === undefined) return;
        // the counter only goes up: a reset would read to Prometheus as the whole count at once
        if (ms >= lastStolenMs) {
          this.inc((ms - lastStolenMs) / 1000);
          lastStolenMs = ms;
        } else if (ms < lastStolenMs / 2) {
          lastStolenMs = ms; // a restarted gateway, counting from zero again: counted from here on
        } // else an answer overtaken by a later one's: skipped
      },
    }),
    unjams: new Counter({ name: "stack_gateway_queue_unjams_total", help: "Servers handed a stuck backend queue's requests (HAProxy 2.6 leaves it waiting for a slot to free)", registers: r }),
  };
}
