// The builtin engine's generator in its own thread (worker_threads) or process (fork): so that
// observers, Prometheus polling, judging and report writing never hold its scheduler. The parent
// sends `start`, then maybe `stop`; the generator posts the buckets that changed every 100 ms and
// the whole series when done. A worker thread then waits for the next `start` (its JIT stays warm).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import type { LoadBucket, LoadSeries } from "../schema/series.ts";
import { generatorNice, startGenerator } from "./generator.ts";
import type { Generator, GeneratorPriority } from "./generator.ts";
import type { LoadOverlay, ResolvedLoad } from "./types.ts";

export type ToGenerator = { type: "start"; load: ResolvedLoad; nice?: number } | { type: "stop" } | { type: "rate"; factor: number } | { type: "overlay"; overlay: LoadOverlay | undefined };
export type FromGenerator = { type: "started"; start: number; priority: GeneratorPriority } | { type: "buckets"; changed: [number, LoadBucket][] } | { type: "done"; series: LoadSeries } | { type: "failed"; message: string };

const POST_MS = 100;

function takePriority(want: number): GeneratorPriority {
  try {
    if (getPriority() !== want) setPriority(want);
    return { nice: getPriority() };
  } catch (err) {
    return { nice: getPriority(), refused: `nice ${want}: ${(err as Error).message}` };
  }
}

const AUTOGROUP = "/proc/self/autogroup";

/**
 * With the kernel's autogroup scheduling on (sched_autogroup_enabled), a thread's nice value weighs
 * only against the threads of its own session: between sessions, and against a container's cgroup,
 * each group counts as one. On testcontainers at the shipped rate the generator's loop, at nice -10,
 * was then held up to 3.6 s (the stack's containers are cgroups of their own; `faultline k8s up`'s
 * cluster is often another session); with autogroup off, 157 ms at most. So while the load runs, the
 * session's group asks for the generator's nice value too, and gets its own back after (a process
 * killed meanwhile leaves its session at that value). Returns the group's nice and how to restore it.
 */
function takeGroupPriority(want: number): { group?: number; restore(): void } {
  const none = { restore: () => undefined };
  try {
    if (want >= 0 || readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() !== "1" || !existsSync(AUTOGROUP)) return none;
    const had = Number(/nice (-?\d+)/.exec(readFileSync(AUTOGROUP, "utf8"))?.[1]);
    if (!Number.isInteger(had)) return none;
    if (had <= want) return { group: had, restore: () => undefined };
    writeFileSync(AUTOGROUP, String(want));
    return {
      group: want,
      restore: () => {
        try {
          writeFileSync(AUTOGROUP, String(had));
        } catch {
          // the session's group keeps the generator's value: it only weighs this session's threads higher
        }
      },
    };
  } catch {
    // no autogroup here, or not allowed to change it (as refused nice values, it needs root or CAP_SYS_NICE)
    return none;
  }
}

interface Port {
  post(m: FromGenerator): void;
  listen(f: (m: ToGenerator) => void): void;
}

function parent(): Port | undefined {
  if (parentPort !== null) {
    const p = parentPort;
    return { post: (m) => p.postMessage(m), listen: (f) => p.on("message", f) };
  }
  const send = process.send?.bind(process);
  if (send === undefined) return undefined;
  process.on("disconnect", () => process.exit(0)); // the parent went away: stop sending at once
  return { post: (m) => void send(m), listen: (f) => process.on("message", (m) => f(m as ToGenerator)) };
}

const port = parent();
if (port === undefined) {
  console.error("generator-worker: start me as a worker thread or a forked process");
  process.exit(2);
}
let current: Generator | undefined;
port.listen((m) => {
  if (m.type === "stop") return current?.stop();
  if (m.type === "rate") return current?.setRateFactor(m.factor);
  if (m.type === "overlay") return current?.setOverlay(m.overlay);
  try {
    const want = m.nice ?? generatorNice();
    const group = takeGroupPriority(want);
    const priority = { ...takePriority(want), ...(group.group !== undefined ? { group: group.group } : {}) };
    const g = startGenerator(m.load);
    current = g;
    port.post({ type: "started", start: g.series.start, priority });
    const flush = setInterval(() => port.post({ type: "buckets", changed: g.takeChanged() }), POST_MS);
    void g.done.then(group.restore, group.restore);
    void g.done.then((series) => {
      clearInterval(flush);
      current = undefined;
      port.post({ type: "done", series });
      if (parentPort === null) process.disconnect?.();
    });
  } catch (err) {
    port.post({ type: "failed", message: (err as Error).message });
  }
});
