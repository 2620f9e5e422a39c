import { join } from "node:path";
import { z } from "zod";
import { opsBackend } from "../faults/types.ts";
import type { UndoOp } from "../faults/types.ts";
import { loadStackConfig } from "../stack/config.ts";
import { rulesTiming } from "../stack/monitoring.ts";
import type { StackConfig } from "../stack/config.ts";
import { pgidsIn } from "../proc/group.ts";
import { stackDown, stackUp } from "../stack/lifecycle.ts";
import type { UpOptions } from "../stack/lifecycle.ts";
import { loadOne } from "../loader/documents.ts";
import type { Target } from "../schema/target.ts";

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
  /**
   * The process groups of the system under test on this host, to tell its CPU from other work's:
   * [] when it runs elsewhere; undefined when it runs here but cannot be told apart (containers of an
   * engine in a VM, a target file's system on loopback).
   */
  processGroups?(): number[] | undefined;
  /** when its alert rules show a moment, where faultline wrote them (rulesTiming): a warm-up's alert may be raised that late, and take that long to resolve */
  alertRules?: { lagMs: number; memoryMs: number };
  /** the shortest warm-up its cold start needs at the experiment's rate (ms), where longer than an experiment's own */
  warmupMs?: number;
  /** what starting it did besides, for the run's timeline (the containers of dead runs it removed) */
  notes?: string[];
  stop(): Promise<void>;
}

/** The `local` target: the reference stack, started for this run in its own folder and stopped after. */
export async function startLocalTarget(o: LocalTargetOptions): Promise<StartedTarget> {
  return startStack(await loadStackConfig(o.configFile, stackSets(o)), { dir: o.dir });
}

/** The `--stack-set` overrides, with the run's webhook as Alertmanager's receiver. */
export function stackSets(o: Pick<LocalTargetOptions, "sets" | "webhookUrl">): string[] {
  return [...(o.sets ?? []), ...(o.webhookUrl ? [`alerting.webhookUrl=${o.webhookUrl}`] : [])];
}

/** Starts a stack supervisor in `up.dir` and reads the target file it writes; stopping the target stops the stack. */
export async function startStack(config: StackConfig, up: UpOptions & { dir: string }, moreGroups: () => number[] = () => []): Promise<StartedTarget> {
  const state = await stackUp(config, up);
  try {
    const target = await loadOne(state.targetFile, "Target");
    const processGroups = (): number[] => [...pgidsIn(up.dir, "stack.pgid"), ...moreGroups()];
    return { target, targetFile: state.targetFile, config, processGroups, alertRules: rulesTiming(config), stop: async () => void (await stackDown({ dir: up.dir })) };
  } catch (err) {
    await stackDown({ dir: up.dir });
    throw err;
  }
}

export function localStackDir(runDir: string): string {
  return join(runDir, "stack");
}

/** Undo of "a local stack was started for a run": stop it. Journaled, so a killed run's stack is found. */
const StopStack = z.strictObject({ driver: z.literal("local-stack"), op: z.literal("stop"), dir: z.string() });
type StopStack = z.infer<typeof StopStack>;
const stopStack: UndoOp<StopStack> = { schema: StopStack, revert: async (u) => void (await stackDown({ dir: u.dir })) };

export const localStackBackend = opsBackend("local-stack", { stop: stopStack }, { defaultOp: "stop" });
