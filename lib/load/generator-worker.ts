// The builtin engine's generator in its own thread (worker_threads) or process (fork): so that
// observers, Prometheus polling, judging and report writing never hold its scheduler. The parent
// sends `start`, then maybe `stop`; the generator posts the buckets that changed every 100 ms and
// the whole series when done, then waits for the next `start` (its JIT stays warm).
import { readFileSync, writeFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import type { LoadBucket, LoadSeries } from "../schema/series.ts";
import { GENERATOR_CONTROL, generatorNice, startGenerator } from "./generator.ts";
import type { Generator, GeneratorPriority } from "./generator.ts";
import type { LoadOverlay, ResolvedLoad } from "./types.ts";

/** `autogroup`: this process leads a session of its own; its scheduling group takes the nice value too. */
export type ToGenerator = { type: "start"; load: ResolvedLoad; nice?: number; autogroup?: boolean } | { type: "stop" } | { type: "rate"; factor: number } | { type: "overlay"; overlay: LoadOverlay | undefined } | { type: "hold"; holdMs: number };
export type FromGenerator = { type: "started"; start: number; priority: GeneratorPriority } | { type: "buckets"; changed: [number, LoadBucket][] } | { type: "done"; series: LoadSeries } | { type: "failed"; message: string };

const POST_MS = 100;

function takePriority(want: number, autogroup: boolean): GeneratorPriority {
  let p: GeneratorPriority;
  try {
    if (getPriority() !== want) setPriority(want);
    p = { nice: getPriority() };
  } catch (err) {
    p = { nice: getPriority(), refused: `nice ${want}: ${(err as Error).message}` };
  }
  return autogroup ? { ...p, ...takeAutogroup(want) } : p;
}

const AUTOGROUP = "/proc/self/autogroup";

/**
 * With autogroup scheduling on, the kernel shares the CPU between sessions first and weighs a
 * thread's nice value only within its session: this process leads a session of its own, and its
 * group asks for the same nice value, so that the system under test (its containers, its cluster,
 * the gateway faultline started) and faultline's own thread cannot take the generator's turn.
 */
function takeAutogroup(want: number): { autogroup?: number; refused?: string } {
  const read = (): number | undefined => {
    const m = /nice (-?\d+)/.exec(readFileSync(AUTOGROUP, "utf8"));
    return m ? Number(m[1]) : undefined;
  };
  try {
    writeFileSync(AUTOGROUP, String(want));
    return { autogroup: read() ?? want };
  } catch (err) {
    let now: number | undefined;
    try {
      now = read();
    } catch {
      return {}; // no autogroup here (another kernel): nothing to raise
    }
    return { ...(now !== undefined ? { autogroup: now } : {}), refused: `its session's group at nice ${want}: ${(err as Error).message}` };
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
/** holds asked for in the parent's process reach the generator here (GENERATOR_CONTROL, for the tests) */
const holds = new BroadcastChannel(GENERATOR_CONTROL);
(holds as unknown as { unref(): void }).unref(); // Node's BroadcastChannel has unref(); the DOM type does not
port.listen((m) => {
  if (m.type === "hold") return holds.postMessage({ holdMs: m.holdMs });
  if (m.type === "stop") return current?.stop();
  if (m.type === "rate") return current?.setRateFactor(m.factor);
  if (m.type === "overlay") return current?.setOverlay(m.overlay);
  try {
    const priority = takePriority(m.nice ?? generatorNice(), m.autogroup === true);
    const g = startGenerator(m.load);
    current = g;
    port.post({ type: "started", start: g.series.start, priority });
    const flush = setInterval(() => port.post({ type: "buckets", changed: g.takeChanged() }), POST_MS);
    void g.done.then((series) => {
      clearInterval(flush);
      current = undefined;
      port.post({ type: "done", series });
    });
  } catch (err) {
    port.post({ type: "failed", message: (err as Error).message });
  }
});
