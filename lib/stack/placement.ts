import type { StackConfig } from "./config.ts";
import type { PodDiscovery } from "./monitoring.ts";
import type { Ports } from "./topology.ts";
import type { Target } from "../schema/target.ts";

/** Where the stack's parts run, and the state file a running stack keeps (stack.json). */

export interface StackState {
  version: 1;
  dir: string;
  pid: number;
  startedAt: number;
  ready: boolean;
  error?: string;
  endpoints: Record<keyof Ports, string>;
  replicas: { name: string; region: string; zone: string; url: string; proxy: string; proxyListen: string; healthProxy: string }[];
  processes: { name: string; pid: number | undefined; state: string; restarts: number }[];
  targetFile: string;
  config: StackConfig;
  /** the session store's Toxiproxy paths, labelled (session-store.ts) */
  session?: { proxies: { name: string; labels: Record<string, string> }[] };
}

/**
 * Where the stack runs. By default every part is a process on loopback. Inside a container (the
 * testcontainers target) the servers bind every address so that published ports and the other
 * containers reach them, Toxiproxy runs in its own container, and the ports were picked by the
 * host (free there), so that each is published under the same number.
 */
export interface Placement {
  bindHost: string;
  /** how Toxiproxy reaches this stack's replicas */
  selfHost: string;
  /** a Toxiproxy that runs elsewhere: its API as seen from here, and the host the gateway dials for its proxies */
  toxiproxy?: { api: string; host: string };
  /** the ports to take, as `assignPorts` hands them out */
  ports?: number[];
  /** the replicas are Kubernetes pods: the gateway follows their EndpointSlices (see KubernetesReplicas) */
  kubernetes?: KubernetesReplicas;
}

/**
 * The gateway, Toxiproxy, Prometheus and Alertmanager of the stack in front of a cluster's pods.
 * Each region's replicas are the ready endpoints of its Service (`<servicePrefix><region>`); the
 * gateway has twice as many slots per region as the config has replicas (room for a rollout's
 * surge and rescheduled pods), each slot a Toxiproxy proxy pair whose upstream is set to the pod
 * that holds the slot, and a gateway server that is in maintenance while the slot is free.
 */
export interface KubernetesReplicas extends PodDiscovery {
  context?: string;
  /** the pods' session store, as the cluster's target file names it: the run audits it (the stack starts none on kubernetes) */
  sessions?: Target["sessions"];
}

/** Slots per configured replica on the kubernetes placement. */
export const SLOTS_PER_REPLICA = 2;

/** The config whose replica count is the gateway's slots: on kubernetes, SLOTS_PER_REPLICA per replica. */
export function slotConfig(c: StackConfig, p: Placement): StackConfig {
  return p.kubernetes === undefined ? c : { ...c, regions: c.regions.map((r) => ({ ...r, replicas: r.replicas * SLOTS_PER_REPLICA })) };
}

/** Toxiproxy's API port in its own container (the testcontainers target). */
export const TOXIPROXY_API_PORT = 8474;

export const LOOPBACK: Placement = { bindHost: "127.0.0.1", selfHost: "127.0.0.1" };


/**
 * Toxiproxy logs every connection (accepted, set up, terminated) at info, debug and trace: at 2,000
 * req/s with health checks that is thousands of lines a second (13,676 lines, 3.9 MB in a one-minute
 * run; 33 MB in 23 s once connections churned in an overload), CPU taken from the stack it proxies.
 * Errors only.
 */
export const TOXIPROXY_ENV = { LOG_LEVEL: "error" };
