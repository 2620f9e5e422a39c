import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { retryUntil } from "../clock.ts";
import { FaultlineError } from "../errors.ts";

/** Processes and process groups: what the stack, the local cluster and the signal watch share. */

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Processes of faultline's own that run apart from this one (a load generator forked off, in a
 * session of its own or not): the host's lane counts their CPU as faultline's, not as other work.
 */
export const ownHelpers = new Set<number>();

/** Linux's clock ticks per second for /proc CPU times (USER_HZ: 100 on every mainstream kernel build). */
const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc; with `reaped`, its children's
 * that it has waited for too. 0 when it is gone.
 */
export function cpuSecondsOf(pid: number, reaped = false): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const own = Number(f[11] ?? 0) + Number(f[12] ?? 0);
    return (reaped ? own + Number(f[13] ?? 0) + Number(f[14] ?? 0) : own) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** clock ticks since boot: with the pid, names a process even after its pid is reused */
  start: string;
}

/** /proc/PID/stat, read; undefined when the process is gone (or there is no /proc). */
export function procStat(pid: number | string): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // fields after the command (which may hold spaces and parentheses) start after the last ')'
    const close = text.lastIndexOf(")");
    const f = text.slice(close + 2).split(" ");
    return { comm: text.slice(text.indexOf("(") + 1, close), state: f[0] ?? "", ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]), start: f[19] ?? "" };
  } catch {
    return undefined;
  }
}

/** Every live process whose process group is `pgid` (read from /proc). */
export function groupMembers(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      const st = procStat(entry);
      return st !== undefined && st.pgrp === pgid && st.state !== "Z";
    })
    .map(Number);
}

/** The process groups recorded in `dir` under each of `files` that holds one (a stack's, a cluster's). */
export function pgidsIn(dir: string, ...files: string[]): number[] {
  return files.map((f) => readPgid(dir, f)).filter((g): g is number => g !== undefined);
}

export function readPgid(dir: string, file = "stack.pgid"): number | undefined {
  try {
    const n = Number(readFileSync(join(dir, file), "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
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
