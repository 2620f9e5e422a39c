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

/** Replicas are named `<region>-<n>` and spread over zones `<region>-a`, `-b`, … round-robin. */
export function layout(config: StackConfig, nextPort: () => number): ReplicaSlot[] {
  const out: ReplicaSlot[] = [];
  for (const r of config.regions) {
    for (let i = 0; i < r.replicas; i++) {
      const name = `${r.name}-${i + 1}`;
      out.push({
        name,
        region: r.name,
        zone: `${r.name}-${String.fromCharCode(97 + (i % r.zones))}`,
        standby: r.standby,
        weight: r.standby ? 1 : Math.max(0, Math.round((r.weight * 10) / r.replicas)),
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
