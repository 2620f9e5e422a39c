import type { ToxicType as ClientToxicType } from "toxiproxy-node-client";
import { FaultlineError } from "../../errors.ts";
import type { Direction, Fault } from "../../schema/experiment.ts";
import { select } from "../select.ts";
import type { Action, Driver, FaultKindHandler, FaultPlan, PlanContext, UndoRecord } from "../types.ts";
import { ToxiproxyApi } from "../../clients/toxiproxy.ts";
import type { ToxicSpec } from "../../clients/toxiproxy.ts";

export const TOXIC_PREFIX = "faultline.";

/** Toxic names carry the run id, so `faultline recover --sweep` finds them without a journal. */
export function toxicName(runId: string, faultName: string, stream: string): string {
  return `${TOXIC_PREFIX}${runId}.${faultName}.${stream}`;
}

interface ToxicUndo extends UndoRecord {
  driver: "toxiproxy";
  api: string;
  proxy: string;
  toxic: string;
}

function streams(direction: Direction): ("upstream" | "downstream")[] {
  return direction === "both" ? ["upstream", "downstream"] : [direction];
}

interface ToxicRequest {
  type: ClientToxicType;
  attributes: Record<string, number>;
  direction: Direction;
  toxicity: number;
}

async function planToxics(ctx: PlanContext, fault: Fault, req: ToxicRequest): Promise<FaultPlan> {
  const tp = ctx.target.toxiproxy;
  if (tp === undefined) {
    throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${fault.kind}) needs a toxiproxy section in target ${ctx.target.metadata.name}`);
  }
  const proxies = select(tp.proxies, fault.selector, "toxiproxy proxy");
  const api = new ToxiproxyApi(tp.api);
  const actions: Action[] = [];
  for (const proxy of proxies) {
    for (const stream of streams(req.direction)) {
      const spec: ToxicSpec = {
        name: toxicName(ctx.runId, ctx.faultName, stream),
        type: req.type,
        stream,
        toxicity: req.toxicity,
        attributes: req.attributes,
      };
      const undo: ToxicUndo = { driver: "toxiproxy", api: api.url, proxy: proxy.name, toxic: spec.name };
      actions.push({
        description: `${req.type} toxic ${spec.name} on proxy ${proxy.name} (${stream}) ${JSON.stringify(req.attributes)}`,
        undo,
        apply: () => api.addToxic(proxy.name, spec),
      });
    }
  }
  return { targets: proxies.map((p) => p.name), actions };
}

type KindOf<K extends Fault["kind"]> = Extract<Fault, { kind: K }>;

const latency: FaultKindHandler<KindOf<"latency">> = {
  kind: "latency",
  plan: (f, ctx) =>
    planToxics(ctx, f, {
      type: "latency",
      attributes: { latency: f.params.latency, jitter: f.params.jitter },
      direction: f.params.direction,
      toxicity: f.params.toxicity,
    }),
};

const bandwidth: FaultKindHandler<KindOf<"bandwidth">> = {
  kind: "bandwidth",
  plan: (f, ctx) =>
    planToxics(ctx, f, {
      type: "bandwidth",
      attributes: { rate: f.params.rateKBps },
      direction: f.params.direction,
      toxicity: f.params.toxicity,
    }),
};

/**
 * blackhole: a `timeout` toxic with timeout 0 both ways — data stops and nothing closes, as when a
 * link goes dark. reset: `reset_peer` at once both ways, as when a firewall rejects.
 */
const partition: FaultKindHandler<KindOf<"partition">> = {
  kind: "partition",
  plan: (f, ctx) =>
    planToxics(ctx, f, {
      type: f.params.mode === "blackhole" ? "timeout" : "reset_peer",
      attributes: { timeout: 0 },
      direction: "both",
      toxicity: 1,
    }),
};

/** Every path into a region partitioned: a partition whose selector must name the region. */
const regionOutage: FaultKindHandler<KindOf<"region-outage">> = {
  kind: "region-outage",
  plan: (f, ctx) => {
    if (f.selector.matchLabels?.region === undefined) {
      throw new FaultlineError("E_INVALID_INPUT", `fault ${ctx.faultName} (region-outage) needs selector.matchLabels.region`);
    }
    return planToxics(ctx, f, { type: f.params.mode === "blackhole" ? "timeout" : "reset_peer", attributes: { timeout: 0 }, direction: "both", toxicity: 1 });
  },
};

const flakyConnection: FaultKindHandler<KindOf<"flaky-connection">> = {
  kind: "flaky-connection",
  plan: (f, ctx) =>
    planToxics(ctx, f, {
      type: "reset_peer",
      attributes: { timeout: f.params.after },
      direction: f.params.direction,
      toxicity: f.params.toxicity,
    }),
};

function rawAttributes(p: KindOf<"toxic">["params"]): Record<string, number> {
  switch (p.type) {
    case "latency":
      return { latency: p.attributes.latency, jitter: p.attributes.jitter };
    case "bandwidth":
      return { rate: p.attributes.rateKBps };
    case "slow_close":
      return { delay: p.attributes.delay };
    case "timeout":
      return { timeout: p.attributes.timeout };
    case "reset_peer":
      return { timeout: p.attributes.timeout };
    case "slicer": // Toxiproxy takes the slicer delay in microseconds.
      return { average_size: p.attributes.averageSize, size_variation: p.attributes.sizeVariation, delay: p.attributes.delay * 1000 };
    case "limit_data":
      return { bytes: p.attributes.bytes };
  }
}

const toxic: FaultKindHandler<KindOf<"toxic">> = {
  kind: "toxic",
  plan: (f, ctx) =>
    planToxics(ctx, f, {
      type: f.params.type,
      attributes: rawAttributes(f.params),
      direction: f.params.direction,
      toxicity: f.params.toxicity,
    }),
};

export const toxiproxyKinds = [latency, bandwidth, partition, regionOutage, flakyConnection, toxic] as const;

function asToxicUndo(undo: UndoRecord): ToxicUndo {
  const { api, proxy, toxic: name } = undo;
  if (typeof api !== "string" || typeof proxy !== "string" || typeof name !== "string") {
    throw new FaultlineError("E_INVALID_INPUT", `malformed toxiproxy undo record: ${JSON.stringify(undo)}`);
  }
  return { driver: "toxiproxy", api, proxy, toxic: name };
}

export const toxiproxyDriver: Driver = {
  name: "toxiproxy",
  async revert(undo) {
    const u = asToxicUndo(undo);
    await new ToxiproxyApi(u.api).removeToxic(u.proxy, u.toxic);
  },
  async isActive(undo) {
    const u = asToxicUndo(undo);
    return new ToxiproxyApi(u.api).hasToxic(u.proxy, u.toxic);
  },
};
