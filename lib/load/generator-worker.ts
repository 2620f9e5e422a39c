// The builtin engine's generator in its own thread (worker_threads) or process (fork): so that
// observers, Prometheus polling, judging and report writing never hold its scheduler. The parent
// sends `start`, then maybe `stop`; the generator posts the buckets that changed every 100 ms and
// the whole series when done. A worker thread then waits for the next `start` (its JIT stays warm).
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
    const priority = takePriority(m.nice ?? generatorNice());
    const g = startGenerator(m.load);
    current = g;
    port.post({ type: "started", start: g.series.start, priority });
    const flush = setInterval(() => port.post({ type: "buckets", changed: g.takeChanged() }), POST_MS);
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
