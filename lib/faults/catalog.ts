import { FaultlineError } from "../errors.ts";
import { BACKENDS, faultKindEntry } from "../schema/faults.ts";
import type { BackendName, BackendsOf, Fault, FaultKind } from "../schema/faults.ts";
import type { Target } from "../schema/target.ts";
import { kubernetesBackend } from "./kubernetes/backend.ts";
import { loadBackend } from "./load/backend.ts";
import { kvPressure } from "./load/kv-pressure.ts";
import { surge } from "./load/surge.ts";
import { gpuOom as k8sGpuOom } from "./kubernetes/gpu-oom.ts";
import { gpuXid as k8sGpuXid } from "./kubernetes/gpu-xid.ts";
import { networkPartition } from "./kubernetes/network-partition.ts";
import { nodeLoss as k8sNodeLoss, regionOutage as k8sRegionOutage, zoneOutage } from "./kubernetes/nodes.ts";
import { podKill } from "./kubernetes/pod-kill.ts";
import { badRollout as k8sBadRollout, rollout as k8sRollout } from "./kubernetes/rollout.ts";
import { stackBackend } from "./stack/backend.ts";
import { gpuOom as stackGpuOom } from "./stack/gpu-oom.ts";
import { gpuXid } from "./stack/gpu-xid.ts";
import { nodeLoss as stackNodeLoss } from "./stack/node-loss.ts";
import { freeze } from "./stack/freeze.ts";
import { freeze as k8sFreeze } from "./kubernetes/freeze.ts";
import { processKill } from "./stack/process-kill.ts";
import { badRollout as stackBadRollout, rollout as stackRollout } from "./stack/rollout.ts";
import { toxiproxyBackend } from "./toxiproxy/backend.ts";
import { bandwidth } from "./toxiproxy/bandwidth.ts";
import { flakyConnection } from "./toxiproxy/flaky-connection.ts";
import { latency } from "./toxiproxy/latency.ts";
import { partition } from "./toxiproxy/partition.ts";
import { regionOutage as toxiproxyRegionOutage } from "./toxiproxy/region-outage.ts";
import { streamCut } from "./toxiproxy/stream-cut.ts";
import { toxic } from "./toxiproxy/toxic.ts";
import type { Backend, FaultImpl, FaultPlan, PlanContext } from "./types.ts";

/**
 * Every fault kind on every backend that the catalog (lib/schema/faults.ts) names for it. The type
 * makes the two lists one: a backend named there without a module here, or the other way round, is
 * a compile error.
 */
const IMPLEMENTATIONS: { [K in FaultKind]: { [B in BackendsOf<K>]: FaultImpl<K> } } = {
  latency: { toxiproxy: latency },
  bandwidth: { toxiproxy: bandwidth },
  partition: { toxiproxy: partition },
  "flaky-connection": { toxiproxy: flakyConnection },
  toxic: { toxiproxy: toxic },
  "stream-cut": { toxiproxy: streamCut },
  "region-outage": { toxiproxy: toxiproxyRegionOutage, kubernetes: k8sRegionOutage },
  "node-loss": { kubernetes: k8sNodeLoss, stack: stackNodeLoss },
  "zone-outage": { kubernetes: zoneOutage },
  "pod-kill": { kubernetes: podKill },
  "network-partition": { kubernetes: networkPartition },
  "process-kill": { stack: processKill },
  freeze: { stack: freeze, kubernetes: k8sFreeze },
  "gpu-oom": { stack: stackGpuOom, kubernetes: k8sGpuOom },
  "gpu-xid": { stack: gpuXid, kubernetes: k8sGpuXid },
  "bad-rollout": { stack: stackBadRollout, kubernetes: k8sBadRollout },
  rollout: { stack: stackRollout, kubernetes: k8sRollout },
  surge: { load: surge },
  "kv-pressure": { load: kvPressure },
};

export const FAULT_BACKENDS: { [B in BackendName]: Backend } = {
  toxiproxy: toxiproxyBackend,
  stack: stackBackend,
  kubernetes: kubernetesBackend,
  load: loadBackend,
};

/** The section of a target that lets a backend serve it. */
const SERVES: { [B in BackendName]: (t: Target) => boolean } = {
  toxiproxy: (t) => t.toxiproxy !== undefined,
  stack: (t) => t.stack !== undefined,
  kubernetes: (t) => t.kubernetes !== undefined,
  load: () => true,
};

/** The one rule: the first backend the catalog lists for the kind whose section the target has. */
export function backendFor(kind: FaultKind, target: Target): BackendName {
  const order: readonly BackendName[] = faultKindEntry(kind).backends;
  const chosen = order.find((b) => SERVES[b](target));
  if (chosen === undefined) {
    throw new FaultlineError("E_TARGET", `fault kind "${kind}" runs on ${order.join(" or ")}: target ${target.metadata.name} has no ${order.join(" or ")} section`);
  }
  return chosen;
}

export function planFault(fault: Fault, ctx: PlanContext): Promise<FaultPlan> {
  const backend = backendFor(fault.kind, ctx.target);
  // the table is indexed by the fault's own kind and a backend the catalog names for it
  const impl = (IMPLEMENTATIONS[fault.kind] as Partial<Record<BackendName, FaultImpl<FaultKind>>>)[backend] as FaultImpl<FaultKind>;
  return impl.plan(fault as never, ctx);
}

/** Each backend that serves the target reaches it and sets up what the target file declares. */
export async function prepareBackends(target: Target): Promise<void> {
  for (const b of BACKENDS) if (SERVES[b](target)) await FAULT_BACKENDS[b].prepare?.(target);
}
