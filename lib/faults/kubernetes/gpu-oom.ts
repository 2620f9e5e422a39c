import { z } from "zod";
import { execIn, orNotFound } from "../../clients/kubernetes.ts";
import type { ExecResult } from "../../clients/kubernetes.ts";
import { FaultlineError } from "../../errors.ts";
import { startGpuRamp, stopGpuRamp } from "../gpu-ramp.ts";
import type { GpuState } from "../gpu-ramp.ts";
import type { Action, FaultImpl, UndoOp } from "../types.ts";
import { KubeRef, clientFor, execTargets } from "./api.ts";

/** The simulated replica's admin calls (lib/stack/replica.ts), from inside its pod; --fail: a 507 (out of memory) exits 22. */
const REPLICA_PRESSURE = (mib: number | string): string[] => ["curl", "-sS", "--fail", "-X", "POST", "-H", "content-type: application/json", "--data", `{"setMiB": ${mib}}`, "http://${podIP}:8000/admin/gpu-pressure"];
const REPLICA_STATE = ["curl", "-sS", "--fail", "http://${podIP}:8000/admin/state"];
const DEFAULT_OOM_REVERT = REPLICA_PRESSURE(0);

export const fill = (command: readonly string[], vars: Record<string, string>): string[] => command.map((a) => a.replace(/\$\{(pod|podIP|namespace)\}/g, (_, k: string) => vars[k] ?? ""));

const ExecRevert = z.strictObject({
  ...KubeRef,
  op: z.literal("exec"),
  namespace: z.string(),
  pod: z.string(),
  container: z.string(),
  key: z.string().optional(),
  command: z.array(z.string()),
  /** exec'd to ask whether the fault still holds: exit 0 yes, anything else no (without it: held until reverted) */
  activeCommand: z.array(z.string()).optional(),
});
export type ExecRevert = z.infer<typeof ExecRevert>;

export const execRevert: UndoOp<ExecRevert> = {
  schema: ExecRevert,
  revert: async (u) => {
    if (u.key !== undefined) stopGpuRamp(u.key);
    // the pod may be gone, or its process restarted without the pressure: nothing to undo then
    const k = clientFor(u);
    if ((await orNotFound(() => k.core.readNamespacedPod({ name: u.pod, namespace: u.namespace }))) === undefined) return;
    await execIn(k, u.namespace, u.pod, u.container, u.command);
  },
  // an exec'd command (GPU pressure, a CUDA allocation) is in effect until reverted: the replica
  // dying of it and restarting is the system's answer, not someone removing the fault
  isActive: async (u) => {
    if (u.activeCommand === undefined) return true;
    const k = clientFor(u);
    if ((await orNotFound(() => k.core.readNamespacedPod({ name: u.pod, namespace: u.namespace }))) === undefined) return false;
    return (await execIn(k, u.namespace, u.pod, u.container, u.activeCommand)).code === 0;
  },
};

/**
 * GPU OOM inside the chosen pods, by exec through the API server. With `params.command` that command
 * runs once (a CUDA allocation on a real GPU node). Without, the simulated replica's memory is ramped
 * as on the stack — `steps` pressure calls `stepEvery` apart up to `rampTo` % — each call an exec in
 * the pod, so the warning alert has its chance before the OOM.
 */
export const gpuOom: FaultImpl<"gpu-oom"> = {
  plan: async (f, ctx) => {
    const { k, ref, namespace, chosen } = await execTargets(f, ctx, 1);
    const every = Math.round(f.params.stepEvery * (ctx.timeScale ?? 1));
    return {
      targets: chosen.map((c) => `${namespace}/${c.name}`),
      actions: chosen.map((c): Action<ExecRevert> => {
        const vars = { pod: c.name, podIP: c.ip ?? "", namespace };
        const container = f.params.container ?? c.container ?? "";
        const key = `${ctx.runId}/${ctx.faultName}/${c.name}`;
        const run = async (command: string[]): Promise<ExecResult> => {
          const r = await execIn(k, namespace, c.name, container, fill(command, vars));
          ctx.log.debug({ pod: c.name, command: command.join(" "), code: r.code, stdout: r.stdout.slice(0, 300), stderr: r.stderr.slice(0, 300) }, "gpu-oom exec");
          return r;
        };
        const undo: ExecRevert = { ...ref, op: "exec", namespace, pod: c.name, container, key, command: fill(f.params.revertCommand ?? DEFAULT_OOM_REVERT, vars) };
        if (f.params.command !== undefined) {
          const command = f.params.command;
          return { description: `exec in ${namespace}/${c.name} (${container}): ${fill(command, vars).join(" ")}`, undo, apply: async () => void (await run(command)) };
        }
        return {
          description: `exec in ${namespace}/${c.name} (${container}): drive GPU memory to ${f.params.rampTo}% in ${f.params.steps} steps every ${every}ms (${fill(REPLICA_PRESSURE("N"), vars).join(" ")})`,
          undo,
          apply: async () => {
            const st = await run(REPLICA_STATE);
            const gpu = st.code === 0 ? (JSON.parse(st.stdout) as { gpu?: GpuState }).gpu : undefined;
            if (gpu === undefined) throw new FaultlineError("E_DRIVER", `kubernetes: ${namespace}/${c.name}: the replica's /admin/state gave no gpu section (exit ${st.code}: ${st.stderr.slice(0, 200)})`);
            await startGpuRamp({ key, rampTo: f.params.rampTo, steps: f.params.steps, every, gpu, set: async (setMiB) => (await run(REPLICA_PRESSURE(setMiB))).code === 0 });
          },
        };
      }),
    };
  },
};