import { FaultlineError } from "../errors.ts";
import type { StackConfig } from "./config.ts";

export interface ReplicaSlot {
  name: string;
  region: string;
  zone: string;
  standby: boolean;
  /** HAProxy server weight: the region's weight shared among its replicas. */
  weight: number;
  port: number;
  proxyName: string;
  proxyPort: number;
  /** Health checks take their own path (a monitoring vantage point): latency on traffic alone leaves them be. */
  healthProxyName: string;
  healthProxyPort: number;
}

export interface Ports {
  gateway: number;
  gatewayMetrics: number;
  toxiproxy: number;
  prometheus: number;
  alertmanager: number;
  control: number;
  rollout: number;
}

/** HAProxy refuses a server weight above this. */
const MAX_SERVER_WEIGHT = 256;

/** Replicas are named `<region>-<n>` and spread over zones `<region>-a`, `-b`, … round-robin. */
export function layout(config: StackConfig, nextPort: () => number): ReplicaSlot[] {
  const out: ReplicaSlot[] = [];
  // ten per point of region weight, shared by its replicas, scaled down to HAProxy's limit of 256
  // where one region with few replicas would pass it (weight 100 on one replica: 1,000)
  const raw = (r: StackConfig["regions"][number]): number => (r.weight * 10) / r.replicas;
  const scale = Math.min(1, MAX_SERVER_WEIGHT / Math.max(1, ...config.regions.filter((r) => !r.standby).map(raw)));
  for (const r of config.regions) {
    for (let i = 0; i < r.replicas; i++) {
      const name = `${r.name}-${i + 1}`;
      out.push({
        name,
        region: r.name,
        zone: `${r.name}-${String.fromCharCode(97 + (i % r.zones))}`,
        standby: r.standby,
        weight: r.standby ? 1 : r.weight === 0 ? 0 : Math.max(1, Math.round(raw(r) * scale)),
        port: nextPort(),
        proxyName: `${name}`,
        proxyPort: nextPort(),
        healthProxyName: `${name}-hc`,
        healthProxyPort: nextPort(),
      });
    }
  }
  return out;
}

/** How many ports a stack with this config takes: 7 of its own and 3 per replica. */
export function portsNeeded(c: StackConfig): number {
  return 7 + 3 * c.regions.reduce((n, r) => n + r.replicas, 0);
}

/**
 * Hands a pool of free ports (`portsNeeded` of them) to the stack's servers and replica slots,
 * always in the same order: the supervisor and a host that publishes them get the same answer.
 */
export function assignPorts(c: StackConfig, pool: readonly number[]): { ports: Ports; slots: ReplicaSlot[] } {
  if (pool.length < portsNeeded(c)) throw new FaultlineError("E_INVALID_INPUT", `the stack needs ${portsNeeded(c)} ports, was given ${pool.length}`);
  const rest = [...pool];
  const take = (): number => rest.shift() as number;
  const ports = { gateway: take(), gatewayMetrics: take(), toxiproxy: take(), prometheus: take(), alertmanager: take(), control: take(), rollout: take() };
  return { ports, slots: layout(c, take) };
}
