import { z } from "zod";
import { FaultlineError } from "../errors.ts";
import { API_VERSION, Metadata } from "./experiment.ts";
import { Labels, strictObject } from "./strict.ts";

const HostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, "expected host:port");

export const ProxySpec = strictObject({
  name: z.string().min(1),
  labels: Labels.default({}),
  listen: HostPort.optional().meta({ description: "with upstream: faultline creates the proxy if it is missing" }),
  upstream: HostPort.optional(),
}).refine((p) => (p.listen === undefined) === (p.upstream === undefined), {
  message: "listen and upstream go together",
});
export type ProxySpec = z.infer<typeof ProxySpec>;

export const Endpoint = strictObject({ url: z.url(), labels: Labels.default({}) });

export const Target = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("Target"),
  metadata: Metadata,
  type: z.enum(["static"]).default("static"),
  endpoints: z.record(z.string(), Endpoint).default({}),
  toxiproxy: strictObject({ api: z.url(), proxies: z.array(ProxySpec).default([]) }).optional(),
  stack: strictObject({
    control: z.url().meta({ description: "the stack supervisor's control API (replicas, alerting webhook)" }),
    rollout: z.url().optional(),
    replicas: z.array(strictObject({ name: z.string(), url: z.url(), labels: Labels.default({}) })).default([]),
  }).optional().meta({ description: "a faultline reference stack (or anything that speaks its control API)" }),
  kubernetes: strictObject({
    kubeconfig: z.string().meta({ description: "path, relative to this file" }),
    context: z.string().optional().meta({ description: "default: the kubeconfig's current context" }),
    namespaces: z.array(z.string()).min(1).default(["default"]).meta({ description: "allow-list: faults touch pods and Deployments only here" }),
    maxFraction: z.number().gt(0).max(1).default(0.5).meta({ description: "blast radius: the largest share of the matching pods or nodes one fault may hit" }),
    workload: Labels.default({ "app.kubernetes.io/name": "inference" }).meta({ description: "the labels of the pods that serve (what rescheduled and capacity judge)" }),
    names: z.record(z.string(), z.string()).default({}).meta({ description: "logical replica names (what experiments select with `names`, e.g. us-east-1) → pod names; the gateway writes the pods that hold its slots" }),
  }).optional(),
  sessions: strictObject({
    sentinels: z.array(HostPort).min(1).meta({ description: "the store's Sentinels (host:port), the ones nearest faultline first" }),
    master: z.string().min(1).default("faultline").meta({ description: "the name the Sentinels monitor the primary under" }),
    natMap: z.record(HostPort, HostPort).default({}).meta({ description: "an address the Sentinels announce → where faultline reaches that node (a port-forward, a proxy)" }),
  }).optional().meta({
    description: "the session store (Redis with Sentinel) the service keeps conversations in: after a run faultline reads back, from its primary, every turn a client was told was kept (the list `session:{<id>}`, one entry per turn) to count what was lost",
  }),
  prometheus: strictObject({ url: z.url() }).optional(),
  alertmanager: strictObject({ url: z.url() }).optional(),
});
export type Target = z.infer<typeof Target>;

/** The namespace `who` (a fault, the distributed load) wants (default: the target's first), refused unless the target allows it. */
export function allowedNamespace(s: Pick<NonNullable<Target["kubernetes"]>, "namespaces">, wanted: string | undefined, who: string): string {
  const namespace = wanted ?? (s.namespaces[0] as string);
  if (!s.namespaces.includes(namespace)) {
    throw new FaultlineError("E_TARGET", `${who}: namespace ${namespace} is not in the target's allow-list (${s.namespaces.join(", ")})`);
  }
  return namespace;
}
