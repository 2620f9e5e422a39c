import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { StackConfig } from "./config.ts";
import { statsSocketPath } from "./haproxy.ts";
import type { Placement, StackState } from "./placement.ts";
import { groupMembers, readPgid, startGroupLeader, stopGroup } from "../proc/group.ts";

const MAIN = fileURLToPath(new URL("./stack-main.ts", import.meta.url));
export const DEFAULT_STACK_DIR = ".faultline";

export function readState(dir: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "stack.json"), "utf8")) as StackState;
  } catch {
    return undefined;
  }
}

export interface UpOptions {
  dir?: string;
  /** where the parts run (default: every part a process on loopback) */
  placement?: Placement;
  timeoutMs?: number;
  onProgress?: (line: string) => void;
}

/** Starts the stack in the background and returns once every part answers (or says why not). */
export async function stackUp(config: StackConfig, opts: UpOptions = {}): Promise<StackState> {
  const dir = resolve(opts.dir ?? DEFAULT_STACK_DIR);
  return startGroupLeader<StackState>({
    what: "stack",
    dir,
    main: MAIN,
    pgidFile: "stack.pgid",
    stateFile: "stack.json",
    read: () => readState(dir),
    prepare: () => {
      writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 1));
      if (opts.placement) writeFileSync(join(dir, "placement.json"), JSON.stringify(opts.placement, null, 1));
      else rmSync(join(dir, "placement.json"), { force: true });
    },
    down: () => stackDown({ dir }),
    downCommand: "faultline stack down",
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
}

/** Stops every process of the stack — also when `up` crashed half-way: the process group finds them. */
export async function stackDown(opts: { dir?: string; timeoutMs?: number } = {}): Promise<{ stopped: number; wasRunning: boolean }> {
  const dir = resolve(opts.dir ?? DEFAULT_STACK_DIR);
  const pgid = readPgid(dir);
  if (pgid === undefined) return { stopped: 0, wasRunning: false };
  const stopped = await stopGroup(pgid, opts.timeoutMs ?? 8000);
  rmSync(join(dir, "stack.pgid"), { force: true });
  rmSync(join(dir, "stack.json"), { force: true });
  // a killed supervisor leaves HAProxy's socket in the runtime folder
  rmSync(statsSocketPath(dir), { force: true });
  return { stopped, wasRunning: stopped > 0 };
}

export async function stackStatus(dir = DEFAULT_STACK_DIR): Promise<{ running: boolean; state?: StackState; live?: StackState }> {
  const d = resolve(dir);
  const pgid = readPgid(d);
  const state = readState(d);
  if (pgid === undefined || groupMembers(pgid).length === 0 || state === undefined) return { running: false, ...(state ? { state } : {}) };
  let live: StackState | undefined;
  try {
    live = (await (await fetch(`${state.endpoints.control}/state`, { signal: AbortSignal.timeout(2000) })).json()) as StackState;
  } catch {
    // supervisor not answering: report the file
  }
  return { running: true, state, ...(live ? { live } : {}) };
}
