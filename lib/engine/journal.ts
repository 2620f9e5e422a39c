import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { UndoRecord } from "../faults/types.ts";
import { alive } from "../proc/group.ts";

export const JOURNAL_FILE = "journal.jsonl";

export type JournalEntry =
  | { type: "run-start"; at: number; runId: string; pid: number; host: string; experiment: string }
  | { type: "inject"; at: number; actionId: string; fault: string; description: string; deadline: number; undo: UndoRecord }
  | { type: "injected"; at: number; actionId: string }
  | { type: "inject-failed"; at: number; actionId: string; error: string }
  | { type: "reverted"; at: number; actionId: string; by: "run" | "recover" }
  | { type: "revert-failed"; at: number; actionId: string; error: string; by: "run" | "recover" }
  | { type: "run-end"; at: number; verdict: string };

type Entry<T extends JournalEntry["type"]> = Extract<JournalEntry, { type: T }>;
type NoAt<E> = E extends unknown ? Omit<E, "at"> : never;

/**
 * Append-only, one JSON line per entry, written and fsync'd before `append` returns: the line
 * describing an injection is on disk before the backend is asked to inject. `appendAll` makes a
 * fault's whole plan durable in one write, so its actions can then be made at once.
 */
export class Journal {
  readonly path: string;
  private fd: number | undefined;
  private readonly now: () => number;

  constructor(dir: string, now: () => number = Date.now) {
    this.path = join(dir, JOURNAL_FILE);
    this.fd = openSync(this.path, "a");
    this.now = now;
  }

  append(entry: NoAt<JournalEntry>): void {
    this.appendAll([entry]);
  }

  appendAll(entries: readonly NoAt<JournalEntry>[]): void {
    if (this.fd === undefined) throw new Error(`journal ${this.path} is closed`);
    if (entries.length === 0) return;
    const at = this.now();
    writeSync(this.fd, entries.map((e) => JSON.stringify({ at, ...e }) + "\n").join(""));
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Reads a journal; a torn last line (the process died mid-write) is skipped, not fatal. */
export function readJournal(path: string): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as JournalEntry);
    } catch {
      // torn write at the end of a killed run
    }
  }
  return out;
}

/** Injections with no `reverted` line after them, newest first (the order to revert in). */
export function pendingActions(entries: readonly JournalEntry[]): Entry<"inject">[] {
  const reverted = new Set(entries.filter((e): e is Entry<"reverted"> => e.type === "reverted").map((e) => e.actionId));
  return entries
    .filter((e): e is Entry<"inject"> => e.type === "inject" && !reverted.has(e.actionId))
    .reverse();
}

export function runStart(entries: readonly JournalEntry[]): Entry<"run-start"> | undefined {
  return entries.find((e): e is Entry<"run-start"> => e.type === "run-start");
}

function processAlive(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    // A recycled pid that is not a node process is not our run.
    return /node|faultline/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return true;
  }
}

/** Whether the run that wrote this journal is still running (then its faults are not orphans). */
export function ownerAlive(entries: readonly JournalEntry[]): boolean {
  const start = runStart(entries);
  if (start === undefined || start.host !== hostname()) return false;
  if (start.pid === process.pid) return true;
  return processAlive(start.pid);
}

/** Run folders under `outDir` whose journal still has unreverted actions; `owner` when the run that wrote it is alive. */
export async function findUnfinishedRuns(outDir: string): Promise<{ runDir: string; owner?: number }[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const out: { runDir: string; owner?: number }[] = [];
  for (const name of names.sort()) {
    const path = join(outDir, name, JOURNAL_FILE);
    let entries: JournalEntry[];
    try {
      entries = readJournal(path);
    } catch {
      continue;
    }
    if (pendingActions(entries).length === 0) continue;
    const owner = ownerAlive(entries) ? runStart(entries)?.pid : undefined;
    out.push({ runDir: join(outDir, name), ...(owner !== undefined ? { owner } : {}) });
  }
  return out;
}
