import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { procStat } from "./group.ts";

export interface ChildOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  logFile: string;
  /** Restart after an unexpected exit, waiting base × 2^(failures-1) up to max. */
  restart?: { baseMs: number; maxMs: number };
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

const STABLE_MS = 10_000;

/** A supervised process: output to a log file, restarted with a growing back-off (a crash loop). */
export class Child {
  readonly o: ChildOptions;
  proc: ChildProcess | undefined;
  restarts = 0;
  /** Held down: not restarted until started again (a node-loss fault that keeps nodes down). */
  held = false;
  private failures = 0;
  private stopping = false;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  state: "running" | "backoff" | "stopped" = "stopped";
  nextStartAt: number | undefined;

  constructor(o: ChildOptions) {
    this.o = o;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    this.held = false;
    this.stopping = false;
    clearTimeout(this.timer);
    if (this.state === "running") return;
    const out = openSync(this.o.logFile, "a");
    this.startedAt = Date.now();
    this.proc = spawn(this.o.command, this.o.args, { stdio: ["ignore", out, out], env: { ...process.env, ...this.o.env } });
    this.state = "running";
    this.nextStartAt = undefined;
    this.proc.once("exit", (code, signal) => {
      this.state = "stopped";
      this.proc = undefined;
      this.o.onExit?.(code, signal);
      if (this.stopping || this.held || this.o.restart === undefined) return;
      this.failures = Date.now() - this.startedAt > STABLE_MS ? 1 : this.failures + 1;
      const delay = Math.min(this.o.restart.maxMs, this.o.restart.baseMs * 2 ** (this.failures - 1));
      this.state = "backoff";
      this.nextStartAt = Date.now() + delay;
      this.timer = setTimeout(() => {
        if (this.stopping || this.held) return;
        this.restarts++;
        this.start();
      }, delay);
    });
  }

  /** Kills the process; with `hold`, it stays down until `start()`. */
  kill(signal: NodeJS.Signals, hold: boolean): void {
    this.held = hold;
    if (hold) clearTimeout(this.timer);
    this.proc?.kill(signal);
  }

  /** Stops the process where it is (SIGSTOP): it holds its sockets and answers nothing, as a hung GPU does. */
  pause(): void {
    this.proc?.kill("SIGSTOP");
  }

  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  /** Whether the process is stopped by a signal now (read from /proc, so a SIGCONT from elsewhere counts too). */
  get paused(): boolean {
    return this.pid !== undefined && procStat(this.pid)?.state === "T";
  }

  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const p = this.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    // a stopped process keeps SIGTERM pending until it runs again
    p.kill("SIGCONT");
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(t);
  }
}

/**
 * The line of a dead process's log that says why (HAProxy's first [ALERT], a panic, an error), not
 * the whole tail joined into one line; shortened, with where the whole log is.
 */
export function whyItDied(logFile: string | undefined): string {
  let lines: string[];
  try {
    lines = readFileSync(logFile ?? "", "utf8").trim().split("\n").filter((l) => l.trim() !== "");
  } catch {
    return "(no log)";
  }
  const line = lines.find((l) => /\[ALERT\]|\bpanic\b|\bfatal\b|\berror\b/i.test(l)) ?? lines.at(-1) ?? "(empty log)";
  const short = line.length > 300 ? `${line.slice(0, 300)}…` : line;
  return `${short.trim()} (whole log: ${logFile})`;
}
