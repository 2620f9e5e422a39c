import type { ReadyEndpoint } from "../clients/endpoint-slices.ts";
import type { KubernetesReplicas, StackState } from "./placement.ts";

/**
 * The Target document a stack writes for the runs against it: its endpoints, its replicas (on
 * kubernetes, the pods that held the gateway's slots when it was written, under the slots' logical
 * names), and the Toxiproxy paths into each region, labelled.
 */
export function stackTarget(s: StackState, k: KubernetesReplicas | undefined, held: ReadonlyMap<string, ReadyEndpoint>): Record<string, unknown> {
  const replicas =
    k === undefined
      ? s.replicas
      : s.replicas.flatMap((r) => {
          const e = held.get(r.name);
          return e === undefined ? [] : [{ ...r, url: `http://${e.ip}:${e.port}`, zone: e.zone ?? r.zone }];
        });
  return {
    apiVersion: "faultline.dev/v1",
    kind: "Target",
    metadata: k === undefined ? { name: "local", description: `the local reference stack in ${s.dir}` } : { name: "kubernetes", description: `the gateway in ${s.dir} in front of the pods of namespace ${k.namespace}` },
    endpoints: {
      gateway: { url: s.endpoints.gateway },
      prometheus: { url: s.endpoints.prometheus },
      alertmanager: { url: s.endpoints.alertmanager },
      ...(k === undefined ? { rollout: { url: s.endpoints.rollout } } : {}),
      "stack-control": { url: s.endpoints.control },
      ...Object.fromEntries(replicas.map((r) => [`replica-${r.name}`, { url: r.url, labels: { region: r.region, zone: r.zone } }])),
    },
    ...(k === undefined
      ? { stack: { control: s.endpoints.control, rollout: s.endpoints.rollout, replicas: replicas.map((r) => ({ name: r.name, url: r.url, labels: { region: r.region, zone: r.zone } })) } }
      : { kubernetes: { kubeconfig: k.kubeconfig, ...(k.context ? { context: k.context } : {}), namespaces: [k.namespace], names: Object.fromEntries([...held].map(([slot, e]) => [slot, e.pod])) } }),
    toxiproxy: {
      api: s.endpoints.toxiproxy,
      // a kubernetes slot's zone is its pod's, which changes: its proxies carry no zone label
      proxies: s.replicas.flatMap((r): { name: string; labels: Record<string, string> }[] => {
        const where: Record<string, string> = k === undefined ? { region: r.region, zone: r.zone } : { region: r.region };
        return [
          { name: r.proxy, labels: { ...where, replica: r.name, path: "traffic" } },
          { name: r.healthProxy, labels: { ...where, replica: r.name, path: "health" } },
        ];
      }).concat(s.session?.proxies ?? []),
    },
    ...(k?.sessions !== undefined ? { sessions: k.sessions } : {}),
    prometheus: { url: s.endpoints.prometheus },
    alertmanager: { url: s.endpoints.alertmanager },
  };
}
