import { z } from "zod";
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
  prometheus: strictObject({ url: z.url() }).optional(),
  alertmanager: strictObject({ url: z.url() }).optional(),
});
export type Target = z.infer<typeof Target>;
