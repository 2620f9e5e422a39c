import { join } from "node:path";
import { FaultlineError } from "../errors.ts";
import type { Driver } from "../faults/types.ts";
import { loadStackConfig } from "../stack/config.ts";
import type { StackConfig } from "../stack/config.ts";
import { stackDown, stackUp } from "../stack/lifecycle.ts";
import { loadOne } from "../spec/load.ts";
import type { Target } from "../spec/target.ts";

export interface LocalTargetOptions {
  dir: string;
  configFile?: string;
  sets?: string[];
  webhookUrl?: string;
}

export interface StartedTarget {
  target: Target;
  targetFile?: string;
  config?: StackConfig;
  stop(): Promise<void>;
}

/** The `local` target: the reference stack, started for this run in its own folder and stopped after. */
export async function startLocalTarget(o: LocalTargetOptions): Promise<StartedTarget> {
  const sets = [...(o.sets ?? []), ...(o.webhookUrl ? [`alerting.webhookUrl=${o.webhookUrl}`] : [])];
  const config = await loadStackConfig(o.configFile, sets);
  const state = await stackUp(config, { dir: o.dir });
  try {
    const target = await loadOne(state.targetFile, "Target");
    return { target, targetFile: state.targetFile, config, stop: async () => void (await stackDown({ dir: o.dir })) };
  } catch (err) {
    await stackDown({ dir: o.dir });
    throw err;
  }
}

export function localStackDir(runDir: string): string {
  return join(runDir, "stack");
}

/** Undo of "a local stack was started for a run": stop it. Journaled, so a killed run's stack is found. */
export const localStackDriver: Driver = {
  name: "local-stack",
  async revert(undo) {
    if (typeof undo.dir !== "string") throw new FaultlineError("E_INVALID_INPUT", `malformed local-stack undo record: ${JSON.stringify(undo)}`);
    await stackDown({ dir: undo.dir });
  },
};
