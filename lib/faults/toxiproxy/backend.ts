import type { ToxicType as ClientToxicType } from "toxiproxy-node-client";
import { z } from "zod";
import { ToxiproxyApi } from "../../clients/toxiproxy.ts";
import type { ToxicSpec } from "../../clients/toxiproxy.ts";
import { errorMessage, FaultlineError } from "../../errors.ts";
import type { Direction, SelectingFault } from "../../schema/faults.ts";
import type { Target } from "../../schema/target.ts";
import { select } from "../select.ts";
import { opsBackend } from "../types.ts";
import type { Action, FaultPlan, PlanContext, UndoOp } from "../types.ts";

/** Toxic names carry the run id, so `faultline recover --sweep` finds them without a journal. */
export const TOXIC_PREFIX = "faultline.";

export function toxicName(runId: string, faultName: string, stream: string): string {
  return `${TOXIC_PREFIX}${runId}.${faultName}.${stream}`;
}

const RemoveToxic = z.strictObject({ driver: z.literal("toxiproxy"), op: z.literal("remove-toxic"), api: z.string(), proxy: z.string(), toxic: z.string() });
type RemoveToxic = z.infer<typeof RemoveToxic>;

const removeToxic: UndoOp<RemoveToxic> = {
  schema: RemoveToxic,
  revert: (u) => new ToxiproxyApi(u.api).removeToxic(u.proxy, u.toxic),
  isActive: (u) => new ToxiproxyApi(u.api).hasToxic(u.proxy, u.toxic),
};

export interface ToxicRequest {
  type: ClientToxicType;
  attributes: Record<string, number>;
  direction: Direction;
  toxicity: number;
}

function streams(direction: Direction): ("upstream" | "downstream")[] {
  return direction === "both" ? ["upstream", "downstream"] : [direction];
}

/** One toxic per matched proxy and stream; what every Toxiproxy kind comes down to. */
export async function planToxics(ctx: PlanContext, fault: SelectingFault, req: ToxicRequest): Promise<FaultPlan> {
  const tp = ctx.target.toxiproxy;
  if (tp === undefined) {
    throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${fault.kind}) needs a toxiproxy section in target ${ctx.target.metadata.name}`);
  }
  const proxies = select(tp.proxies, fault.selector, "toxiproxy proxy");
  const api = new ToxiproxyApi(tp.api);
  const actions: Action<RemoveToxic>[] = [];
  for (const proxy of proxies) {
    for (const stream of streams(req.direction)) {
      const spec: ToxicSpec = { name: toxicName(ctx.runId, ctx.faultName, stream), type: req.type, stream, toxicity: req.toxicity, attributes: req.attributes };
      actions.push({
        description: `${req.type} toxic ${spec.name} on proxy ${proxy.name} (${stream}) ${JSON.stringify(req.attributes)}`,
        undo: { driver: "toxiproxy", op: "remove-toxic", api: api.url, proxy: proxy.name, toxic: spec.name },
        apply: () => api.addToxic(proxy.name, spec),
      });
    }
  }
  return { targets: proxies.map((p) => p.name), actions };
}

/** The API answers, and the proxies the target file declares with listen and upstream exist. */
async function prepare(target: Target): Promise<void> {
  const tp = target.toxiproxy;
  if (tp === undefined) return;
  const api = new ToxiproxyApi(tp.api);
  await api.version();
  for (const p of tp.proxies) {
    if (p.listen !== undefined && p.upstream !== undefined) await api.ensureProxy(p.name, p.listen, p.upstream);
  }
}

export const toxiproxyBackend = opsBackend(
  "toxiproxy",
  { "remove-toxic": removeToxic },
  {
    defaultOp: "remove-toxic",
    prepare,
    sweep: async ({ toxiproxy }) => {
      if (toxiproxy === undefined) throw new FaultlineError("E_INVALID_INPUT", "sweeping Toxiproxy needs its API URL (--toxiproxy URL)");
      const api = new ToxiproxyApi(toxiproxy);
      const out: { swept: string[]; failed: { what: string; error: string }[] } = { swept: [], failed: [] };
      for (const t of await api.findToxics(TOXIC_PREFIX)) {
        const what = `toxic ${t.toxic} on proxy ${t.proxy}`;
        try {
          await api.removeToxic(t.proxy, t.toxic);
          out.swept.push(what);
        } catch (err) {
          out.failed.push({ what, error: errorMessage(err) });
        }
      }
      return out;
    },
  },
);
