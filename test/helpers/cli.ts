import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { retryUntil } from "../../lib/clock.ts";
import { ROOT } from "./servers.ts";

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `faultline ARGS` as a user would (bin/faultline.js), without a terminal. */
export function startCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): CliRun {
  const child = spawn(process.execPath, [join(ROOT, "bin/faultline.js"), ...args], {
    cwd,
    env: { ...process.env, CI: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

export async function runCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = startCli(args, env, cwd);
  const { code } = await r.exit;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/** Waits until the run's journal (the only run folder under outDir) has a line of `type`. */
export async function waitForJournal(outDir: string, type: string, timeoutMs = 20_000): Promise<string> {
  const { readdirSync } = await import("node:fs");
  return retryUntil(
    async () => {
      for (const d of existsSync(outDir) ? readdirSync(outDir) : []) {
        const j = join(outDir, d, "journal.jsonl");
        if (existsSync(j) && readFileSync(j, "utf8").includes(`"type":"${type}"`)) return join(outDir, d);
      }
      return undefined;
    },
    (dir) => dir !== undefined,
    ({ elapsedMs }) => new Error(`no "${type}" line in a journal under ${outDir} after ${elapsedMs}ms`),
    { timeoutMs, intervalMs: 50 },
  ) as Promise<string>;
}

export function journalTypes(runDir: string): string[] {
  return readFileSync(join(runDir, "journal.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { type: string }).type);
}

/** Polls `cond` until it holds (or fails after `timeoutMs`). */
export async function waitFor(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const { retryUntil } = await import("../../lib/clock.ts");
  await retryUntil(cond, (x) => x, ({ elapsedMs }) => new Error(`condition not met after ${elapsedMs}ms`), { timeoutMs, intervalMs: 50 });
}

/**
 * A run that must decide: when faultline says the instrument could not tell (the generator late, the
 * host starved — it says so rather than judge the system), run it again, once, as a person would.
 * A second undecided run is returned as it is, and fails whatever verdict the test expects.
 */
export async function decided<T extends { record: { verdict?: string; reason?: string | undefined } }>(what: string, once: () => Promise<T>): Promise<T> {
  const first = await once();
  if (first.record.verdict !== "inconclusive") return first;
  console.log(`      (${what}: inconclusive, run again once — ${first.record.reason ?? ""})`);
  return once();
}
