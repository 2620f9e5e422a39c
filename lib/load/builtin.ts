import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { FaultlineError } from "../errors.ts";
import { BUCKET_MS, SERIES_VERSION } from "../schema/series.ts";
import type { LoadSeries } from "../schema/series.ts";
import { startGenerator } from "./generator.ts";
import type { FromGenerator, ToGenerator } from "./generator-worker.ts";
import type { LoadEngine, LoadOverlay, LoadRun, ResolvedLoad } from "./types.ts";

/**
 * Where the builtin engine's scheduler runs. `worker` (the default): its own thread, so nothing
 * else faultline does in its event loop can make a request late. `process`: a forked Node process,
 * the same isolation at the cost of a second runtime. `inline`: this thread, for comparison
 * (bench:load measures the three side by side).
 */
export type GeneratorHome = "worker" | "process" | "inline";

const WORKER = new URL("./generator-worker.ts", import.meta.url);

/** The builtin engine: an open model on undici (see generator.ts), its scheduler off the main thread. */
export class BuiltinLoadEngine implements LoadEngine {
  readonly name = "builtin";

  private readonly home: GeneratorHome;
  private readonly nice: number | undefined;

  /** `nice`: the generator thread's nice value (default GENERATOR_NICE; bench:load compares it with 0) */
  constructor(home: GeneratorHome = "worker", o: { nice?: number } = {}) {
    this.home = home;
    this.nice = o.nice;
  }

  async start(load: ResolvedLoad): Promise<LoadRun> {
    if (load.rate <= 0 && !(load.stages ?? []).some((s) => s.target > 0)) {
      throw new FaultlineError("E_INVALID_INPUT", "load rate must be above 0");
    }
    if (this.home === "inline") {
      const g = startGenerator(load);
      return controlled({ series: g.series, done: g.done, stop: () => (g.stop(), g.done) }, (f) => g.setRateFactor(f), (o) => g.setOverlay(o));
    }
    return startAway(load, this.home, this.nice);
  }
}

/** A run whose faults (a surge's rate, a kv-pressure's overlay) reach its generator, each remembered for its undo. */
function controlled(run: Pick<LoadRun, "series" | "done" | "stop">, rate: (factor: number) => void, overlayTo: (o: LoadOverlay | undefined) => void): LoadRun {
  const c: LoadRun & { rateFactor: number; overlay: LoadOverlay | undefined } = {
    ...run,
    rateFactor: 1,
    overlay: undefined,
    setRateFactor: (f) => void (rate(f), (c.rateFactor = f)),
    setOverlay: (o) => void (overlayTo(o), (c.overlay = o)),
  };
  return c;
}

/** A message channel to a generator in a worker thread or a child process. */
interface Away {
  send(m: ToGenerator): void;
  onMessage(f: (m: FromGenerator) => void): void;
  /** called with a reason when it ends before saying `done` */
  onLost(f: (why: string) => void): void;
  close(): void;
}

/** A worker whose last run is done, kept for the next: a fresh one compiles the hot path again, cold, at full rate. */
let parked: Worker | undefined;

function newWorker(): Worker {
  // V8 sizes a worker's young generation for the machine's memory; 16 MiB keeps the runner's
  // RSS at 10,000 req/s near 270 MiB instead of 370 (bench:soak), at no CPU cost it could measure.
  const w = new Worker(WORKER, { resourceLimits: { maxYoungGenerationSizeMb: 16 } });
  w.on("error", () => undefined); // a run listens for its own; a parked worker's end must not throw here
  w.once("exit", () => void (parked === w && (parked = undefined)));
  return w;
}

function spawnAway(home: "worker" | "process"): Away {
  if (home === "worker") {
    const w = parked ?? newWorker();
    parked = undefined;
    w.ref();
    let onMessage: ((m: FromGenerator) => void) | undefined;
    let onError: ((e: Error) => void) | undefined;
    let onExit: ((code: number) => void) | undefined;
    return {
      send: (m) => w.postMessage(m),
      onMessage: (f) => void w.on("message", (onMessage = f)),
      onLost: (f) => {
        w.on("error", (onError = (err) => f(err.message)));
        w.on("exit", (onExit = (code) => f(`its thread exited with code ${code}`)));
      },
      close: () => {
        if (onMessage) w.off("message", onMessage);
        if (onError) w.off("error", onError);
        if (onExit) w.off("exit", onExit);
        if (parked !== undefined) return void w.terminate();
        w.unref(); // parked: it keeps no process alive
        parked = w;
      },
    };
  }
  const c = fork(fileURLToPath(WORKER), [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return {
    send: (m) => void c.send(m),
    onMessage: (f) => c.on("message", (m) => f(m as FromGenerator)),
    onLost: (f) => {
      c.on("error", (err) => f(err.message));
      c.on("exit", (code, signal) => f(`its process exited with ${signal ?? `code ${code}`}`));
    },
    close: () => (c.connected ? c.disconnect() : undefined),
  };
}

/** Starts the generator elsewhere and mirrors its series here as buckets change (at most 100 ms behind). */
function startAway(load: ResolvedLoad, home: "worker" | "process", nice: number | undefined): Promise<LoadRun> {
  const away = spawnAway(home);
  const series: LoadSeries = { version: SERIES_VERSION, engine: "builtin", bucketMs: BUCKET_MS, start: 0, targetRate: load.rate, buckets: [] };
  let finished = false;
  return new Promise<LoadRun>((resolveStart, rejectStart) => {
    let resolveDone!: (s: LoadSeries) => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<LoadSeries>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
    done.catch(() => undefined); // handled by whoever awaits it; never an unhandled rejection here
    away.onMessage((m) => {
      if (m.type === "started") {
        series.start = m.start;
        series.priority = m.priority;
        resolveStart(
          controlled(
            { series, done, stop: () => (away.send({ type: "stop" }), done) },
            (factor) => away.send({ type: "rate", factor }),
            (overlay) => away.send({ type: "overlay", overlay }),
          ),
        );
      } else if (m.type === "buckets") {
        for (const [idx, b] of m.changed) series.buckets[idx] = b;
      } else if (m.type === "done") {
        finished = true;
        series.buckets = m.series.buckets;
        if (m.series.sessionAcks !== undefined) series.sessionAcks = m.series.sessionAcks;
        away.close();
        resolveDone(series);
      } else {
        finished = true;
        away.close();
        rejectStart(new FaultlineError("E_TOOL", `the load generator could not start: ${m.message}`));
      }
    });
    away.onLost((why) => {
      if (finished) return;
      finished = true;
      const err = new FaultlineError("E_TOOL", `the load generator stopped before it finished: ${why}`);
      rejectStart(err);
      rejectDone(err);
    });
    away.send({ type: "start", load, ...(nice !== undefined ? { nice } : {}) });
  });
}
