import { DiscoveryV1Api, makeInformer } from "@kubernetes/client-node";
import type { Informer, V1EndpointSlice } from "@kubernetes/client-node";
import type { Kube } from "./kubernetes.ts";
import { follow } from "./kubernetes.ts";

/** The label the EndpointSlice controller puts on every slice it makes for a Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export interface ReadyEndpoint {
  ip: string;
  port: number;
  /** the pod behind it (targetRef), or the address when there is none */
  pod: string;
  zone: string | undefined;
}

/**
 * Follows the EndpointSlices of some Services, as a gateway or service mesh does: `onChange` gets,
 * per Service, the endpoints that are ready (conditions.ready, not terminating), sorted by pod
 * name, whenever a slice is added, changed or deleted. A Service's endpoints may span several slices.
 */
export class EndpointFollower {
  private readonly slices = new Map<string, V1EndpointSlice>();
  private informer: Informer<V1EndpointSlice> | undefined;
  private stopped = false;
  private readonly k: Kube;
  private readonly namespace: string;
  private readonly services: readonly string[];
  private readonly onChange: (ready: Map<string, ReadyEndpoint[]>) => void;

  constructor(k: Kube, namespace: string, services: readonly string[], onChange: (ready: Map<string, ReadyEndpoint[]>) => void) {
    this.k = k;
    this.namespace = namespace;
    this.services = services;
    this.onChange = onChange;
  }

  async start(onError: (err: unknown) => void = () => undefined): Promise<void> {
    const api = this.k.kc.makeApiClient(DiscoveryV1Api);
    const labelSelector = `${SERVICE_NAME_LABEL} in (${this.services.join(",")})`;
    const inf = makeInformer<V1EndpointSlice>(
      this.k.kc,
      `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices`,
      () => api.listNamespacedEndpointSlice({ namespace: this.namespace, labelSelector }),
      labelSelector,
    );
    this.informer = follow(
      inf,
      (s, gone) => {
        const key = s.metadata?.name ?? "";
        if (gone) this.slices.delete(key);
        else this.slices.set(key, s);
        this.onChange(this.ready());
      },
      () => this.stopped,
      onError,
    );
    await inf.start();
    this.onChange(this.ready());
  }

  /** Service → its ready endpoints now. */
  ready(): Map<string, ReadyEndpoint[]> {
    const out = new Map<string, ReadyEndpoint[]>(this.services.map((s) => [s, []]));
    for (const slice of this.slices.values()) {
      const list = out.get(slice.metadata?.labels?.[SERVICE_NAME_LABEL] ?? "");
      if (list === undefined) continue;
      const port = slice.ports?.[0]?.port ?? 80;
      for (const e of slice.endpoints ?? []) {
        // ready is "serving and not terminating"; an absent condition counts as ready (the API's rule)
        if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
        for (const ip of e.addresses) list.push({ ip, port, pod: e.targetRef?.name ?? ip, zone: e.zone });
      }
    }
    for (const list of out.values()) list.sort((a, b) => a.pod.localeCompare(b.pod) || a.ip.localeCompare(b.ip));
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop().catch(() => undefined);
  }
}
