import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { retryUntil } from "../clock.ts";
import { FaultlineError } from "../errors.ts";
import type { StackConfig } from "./config.ts";
import { statsSocketPath } from "./haproxy.ts";
import type { Placement, StackState } from "./supervisor.ts";

const MAIN = fileURLToPath(new URL("./stack-main.ts", import.meta.url));
export const DEFAULT_STACK_DIR = ".faultline";

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Every process whose process group is `pgid` (read from /proc). */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // fields after the command (which may hold spaces) start after the last ')'
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") out.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

export function readState(dir: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "stack.json"), "utf8")) as StackState;
  } catch {
    return undefined;
  }
}

export function readPgid(dir: string, file = "stack.pgid"): number | undefined {
  try {
    const n = Number(readFileSync(join(dir, file), "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
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

/**
 * Starts `node main DIR` detached, so that it leads a new process group which every process it
 * starts inherits (`down` finds them all, also after a crash), and waits until its state file says
 * ready — or says why not, or the leader exits. On any failure `down` runs before the error is thrown.
 */
export async function startGroupLeader<S extends { ready?: boolean; error?: string }>(o: {
  what: string;
  dir: string;
  main: string;
  pgidFile: string;
  stateFile: string;
  read: () => S | undefined;
  /** writes what the leader reads at start (its config), once no other leader holds the folder */
  prepare: () => void;
  down: () => Promise<unknown>;
  downCommand: string;
  timeoutMs: number;
  onProgress?: (line: string) => void;
}): Promise<S> {
  mkdirSync(join(o.dir, "logs"), { recursive: true });
  const pgid = readPgid(o.dir, o.pgidFile);
  if (pgid !== undefined && groupMembers(pgid).length > 0) {
    throw new FaultlineError("E_INVALID_INPUT", `a ${o.what} is already running in ${o.dir} (process group ${pgid}); run \`${o.downCommand}\` first`);
  }
  rmSync(join(o.dir, o.stateFile), { force: true });
  o.prepare();
  const log = openSync(join(o.dir, "logs", "supervisor.log"), "a");
  const child = spawn(process.execPath, [o.main, o.dir], { detached: true, stdio: ["ignore", log, log] });
  child.unref();
  writeFileSync(join(o.dir, o.pgidFile), String(child.pid));
  o.onProgress?.(`${o.what} supervisor started (pid ${child.pid}; logs in ${join(o.dir, "logs")}), waiting…`);
  try {
    // a state file that says why it failed, or a leader that died without one, ends the wait at once
    const state = await retryUntil(
      async () => {
        const s = o.read();
        if (s?.error !== undefined) return new FaultlineError("E_TOOL", `${o.what} failed to start: ${s.error}`);
        if (s === undefined && !alive(child.pid as number)) return new FaultlineError("E_TOOL", `the ${o.what} supervisor exited; see ${join(o.dir, "logs")}`);
        return s;
      },
      (s) => s instanceof Error || s?.ready === true,
      ({ elapsedMs }) => new FaultlineError("E_TIMEOUT", `${o.what} not ready after ${elapsedMs}ms; logs in ${join(o.dir, "logs")}`),
      { timeoutMs: o.timeoutMs, intervalMs: 100 },
    );
    if (state instanceof Error) throw state;
    return state as S;
  } catch (err) {
    await o.down();
    throw err;
  }
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

/** SIGTERM to a whole process group, SIGKILL after `timeoutMs`; resolves once none is left. */
export async function stopGroup(pgid: number, timeoutMs: number): Promise<number> {
  const members = groupMembers(pgid);
  // The whole group, not just the supervisor: if it died, its children must still hear it.
  try {
    if (members.length > 0) process.kill(-pgid, "SIGTERM");
  } catch {
    // gone meanwhile
  }
  const gone = async (): Promise<boolean> => groupMembers(pgid).length === 0;
  try {
    await retryUntil(gone, (x) => x, () => new Error("timeout"), { timeoutMs: timeoutMs, intervalMs: 100 });
  } catch {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
    await retryUntil(gone, (x) => x, () => new FaultlineError("E_TIMEOUT", `processes in group ${pgid} survived SIGKILL`), { timeoutMs: 5000, intervalMs: 100 });
  }
  return members.length;
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
