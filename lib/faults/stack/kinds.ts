import { FaultlineError, errorMessage } from "../../errors.ts";
import type { Fault } from "../../schema/experiment.ts";
import type { Target } from "../../schema/target.ts";
import { startGpuRamp, stopGpuRamp } from "../gpu-ramp.ts";
import type { GpuState } from "../gpu-ramp.ts";
import { select } from "../select.ts";
import type { Action, Driver, FaultKindHandler, FaultPlan, PlanContext, UndoRecord } from "../types.ts";

type KindOf<K extends Fault["kind"]> = Extract<Fault, { kind: K }>;
type StackSection = NonNullable<Target["stack"]>;

const CALL_MS = 5000;

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(CALL_MS) });
  } catch (cause) {
    throw new FaultlineError("E_DRIVER", `stack: ${method} ${url} failed: ${errorMessage(cause)}`, { cause });
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

function stackOf(ctx: PlanContext, kind: string): StackSection {
  const s = ctx.target.stack;
  if (s === undefined) {
    throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${kind}) needs a stack section in target ${ctx.target.metadata.name} (the local reference stack has one)`);
  }
  return s;
}

function replicas(ctx: PlanContext, fault: Fault): { s: StackSection; chosen: StackSection["replicas"] } {
  const s = stackOf(ctx, fault.kind);
  const items = s.replicas.map((r) => ({ ...r, labels: { ...r.labels, replica: r.name } }));
  return { s, chosen: select(items, fault.selector, "replica") };
}

/** Replicas lost: their processes killed; with restart: false they stay down until reverted. */
const nodeLoss: FaultKindHandler<KindOf<"node-loss">> = {
  kind: "node-loss",
  plan: async (f, ctx) => {
    const { s, chosen } = replicas(ctx, f);
    const actions: Action[] = chosen.map((r) => ({
      description: `kill replica ${r.name} (${f.params.signal}${f.params.restart ? ", supervisor restarts it" : ", held down"})`,
      undo: { driver: "stack", op: "start-replica", control: s.control, replica: r.name },
      apply: async () => {
        const res = await call("POST", `${s.control}/replicas/${r.name}/kill`, { signal: f.params.signal, restart: f.params.restart });
        if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: killing ${r.name} answered ${res.status}: ${JSON.stringify(res.json)}`);
        await proveDown(r.url);
      },
    }));
    return { targets: chosen.map((r) => r.name), actions };
  },
};

const processKill: FaultKindHandler<KindOf<"process-kill">> = {
  kind: "process-kill",
  plan: async (f, ctx) => {
    const { s, chosen } = replicas(ctx, f);
    return {
      targets: chosen.map((r) => r.name),
      actions: chosen.map((r) => ({
        description: `${f.params.signal} replica ${r.name} (supervisor restarts it)`,
        undo: { driver: "stack", op: "start-replica", control: s.control, replica: r.name },
        apply: async () => {
          const res = await call("POST", `${s.control}/replicas/${r.name}/kill`, { signal: f.params.signal, restart: true });
          if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: killing ${r.name} answered ${res.status}`);
        },
      })),
    };
  },
};

/** Proof that a kill took effect: the replica stops answering. */
async function proveDown(url: string): Promise<void> {
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    try {
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(300) });
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new FaultlineError("E_DRIVER", `replica at ${url} still answers 3s after it was killed`);
}

const gpuOom: FaultKindHandler<KindOf<"gpu-oom">> = {
  kind: "gpu-oom",
  plan: async (f, ctx) => {
    const { chosen } = replicas(ctx, { ...f, selector: { ...f.selector, count: f.selector.count ?? 1 } });
    const actions: Action[] = chosen.map((r) => {
      const key = `${ctx.runId}/${ctx.faultName}/${r.name}`;
      // the ramp keeps its place in the fault's window when the run is time-scaled
      const every = Math.round(f.params.stepEvery * (ctx.timeScale ?? 1));
      return {
        description: `drive GPU memory of ${r.name} to ${f.params.rampTo}% in ${f.params.steps} steps every ${every}ms`,
        undo: { driver: "stack", op: "clear-gpu-pressure", url: r.url, key },
        apply: async () => {
          const st = await call("GET", `${r.url}/admin/state`);
          const gpu = st.json.gpu as GpuState | undefined;
          if (gpu === undefined) throw new FaultlineError("E_DRIVER", `stack: ${r.url}/admin/state has no gpu section`);
          await startGpuRamp({
            key,
            rampTo: f.params.rampTo,
            steps: f.params.steps,
            every,
            gpu,
            // 507: out of memory, the ramp is done; a throw (the replica died) ends it too
            set: async (setMiB) => (await call("POST", `${r.url}/admin/gpu-pressure`, { setMiB })).status === 200,
          });
        },
      };
    });
    return { targets: chosen.map((r) => r.name), actions };
  },
};

const planRollout = async (f: KindOf<"bad-rollout"> | KindOf<"rollout">, ctx: PlanContext): Promise<FaultPlan> => {
  {
    const s = stackOf(ctx, f.kind);
    if (s.rollout === undefined) throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (bad-rollout) needs stack.rollout in the target`);
    const rollout = s.rollout;
    const cur = await call("GET", `${rollout}/rollouts/current`);
    const stable = String(cur.json.stable ?? "");
    return {
      targets: [`rollout of ${f.params.version}`],
      actions: [
        {
          description: `start a rollout of ${f.params.version} (stable ${stable})`,
          undo: { driver: "stack", op: "abort-rollout", rollout, stable },
          apply: async () => {
            const res = await call("POST", `${rollout}/rollouts`, { version: f.params.version, ...(f.params.model ? { model: f.params.model } : {}) });
            if (res.status !== 202) throw new FaultlineError("E_DRIVER", `stack: starting the rollout answered ${res.status}: ${JSON.stringify(res.json)}`);
          },
        },
      ],
    };
  }
};

const badRollout: FaultKindHandler<KindOf<"bad-rollout">> = { kind: "bad-rollout", plan: planRollout };
const rollout: FaultKindHandler<KindOf<"rollout">> = { kind: "rollout", plan: planRollout };

export const stackKinds = [nodeLoss, processKill, gpuOom, badRollout, rollout] as const;

function str(u: UndoRecord, k: string): string {
  const v = u[k];
  if (typeof v !== "string") throw new FaultlineError("E_INVALID_INPUT", `malformed stack undo record (no ${k}): ${JSON.stringify(u)}`);
  return v;
}

export const stackDriver: Driver = {
  name: "stack",
  async revert(u) {
    switch (u.op) {
      case "start-replica": {
        const res = await call("POST", `${str(u, "control")}/replicas/${str(u, "replica")}/start`, {});
        if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: starting ${str(u, "replica")} answered ${res.status}`);
        return;
      }
      case "clear-gpu-pressure": {
        const key = str(u, "key");
        stopGpuRamp(key);
        try {
          await call("POST", `${str(u, "url")}/admin/gpu-pressure`, { setMiB: 0 });
        } catch {
          // the replica is down or restarting: a new process starts without pressure
        }
        return;
      }
      case "abort-rollout": {
        const res = await call("POST", `${str(u, "rollout")}/rollouts/abort`, { stable: str(u, "stable") });
        if (res.status !== 200) throw new FaultlineError("E_DRIVER", `stack: aborting the rollout answered ${res.status}`);
        return;
      }
      default:
        throw new FaultlineError("E_INVALID_INPUT", `unknown stack undo op ${String(u.op)}`);
    }
  },
  async isActive(u) {
    const url = u.op === "abort-rollout" ? `${str(u, "rollout")}/healthz` : u.op === "start-replica" ? `${str(u, "control")}/healthz` : undefined;
    if (url !== undefined) await call("GET", url);
    return true;
  },
};

export type { FaultPlan };
