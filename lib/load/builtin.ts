import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { FaultlineError } from "../errors.ts";
import { ownHelpers } from "../proc/group.ts";
import { BUCKET_MS, SERIES_VERSION } from "../schema/series.ts";
import type { LoadSeries } from "../schema/series.ts";
import { GENERATOR_CONTROL, startGenerator } from "./generator.ts";
import type { FromGenerator, ToGenerator } from "./generator-worker.ts";
import type { LoadEngine, LoadOverlay, LoadRun, ResolvedLoad } from "./types.ts";

/**
 * Where the builtin engine's scheduler runs. `worker`: its own thread, so nothing else faultline
 * does in its event loop can make a request late. `process`: a forked Node process, the same
 * isolation at the cost of a second runtime. `session`: a forked process that leads a session of
 * its own, whose scheduling group asks for the generator's nice value too (see defaultHome).
 * `inline`: this thread, for comparison (bench:load measures them side by side).
 */
export type GeneratorHome = "worker" | "process" | "session" | "inline";

const HOMES: readonly GeneratorHome[] = ["worker", "process", "session", "inline"];

/**
 * A worker thread, unless FAULTLINE_GENERATOR_HOME chooses another (worker, process, session,
 * inline). `session` was meant for hosts with Linux's autogroup scheduling on, where a worker's
 * nice value weighs only within faultline's session; measured against a testcontainers stack at
 * 2,000 req/s it gave worse verdicts than the worker (README, "the generator stands for clients").
 */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): GeneratorHome {
  const v = env.FAULTLINE_GENERATOR_HOME;
  if (v === undefined || v === "") return "worker";
  if (!(HOMES as readonly string[]).includes(v)) throw new FaultlineError("E_INVALID_INPUT", `FAULTLINE_GENERATOR_HOME=${v}: expected one of ${HOMES.join(", ")}`);
  return v as GeneratorHome;
}

const WORKER = new URL("./generator-worker.ts", import.meta.url);

/** The builtin engine: an open model on faultline's own HTTP/1.1 client (see generator.ts), its scheduler off the main thread. */
export class BuiltinLoadEngine implements LoadEngine {
  readonly name = "builtin";

  private readonly home: GeneratorHome;
  private readonly nice: number | undefined;

  /** `nice`: the generator thread's nice value (default GENERATOR_NICE; bench:load compares it with 0) */
  constructor(home: GeneratorHome = defaultHome(), o: { nice?: number } = {}) {
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

/** A worker (or a process) whose last run is done, kept for the next: a fresh one compiles the hot path again, cold, at full rate. */
let parked: Worker | undefined;
const parkedProcess: Partial<Record<"process" | "session", ChildProcess>> = {};

function newWorker(): Worker {
  // V8 sizes a worker's young generation for the machine's memory; 16 MiB keeps the runner's
  // RSS at 10,000 req/s near 270 MiB instead of 370 (bench:soak), at no CPU cost it could measure.
  const w = new Worker(WORKER, { resourceLimits: { maxYoungGenerationSizeMb: 16 } });
  w.on("error", () => undefined); // a run listens for its own; a parked worker's end must not throw here
  w.once("exit", () => void (parked === w && (parked = undefined)));
  return w;
}

function spawnAway(home: "worker" | "process" | "session"): Away {
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
  let c = parkedProcess[home];
  delete parkedProcess[home];
  if (c === undefined || !c.connected) c = newProcess(home);
  const child = c;
  child.ref();
  child.channel?.ref();
  let onMessage: ((m: unknown) => void) | undefined;
  let onError: ((e: Error) => void) | undefined;
  let onExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  // the tests' holds (GENERATOR_CONTROL) are asked for in this process: they are passed on
  const holds = new BroadcastChannel(GENERATOR_CONTROL);
  holds.onmessage = (e) => {
    const holdMs = (e as MessageEvent<{ holdMs?: unknown }>).data.holdMs;
    if (typeof holdMs === "number" && child.connected) child.send({ type: "hold", holdMs } satisfies ToGenerator);
  };
  (holds as unknown as { unref(): void }).unref(); // Node's BroadcastChannel has unref(); the DOM type does not
  return {
    send: (m) => void (child.connected && child.send(m)),
    onMessage: (f) => void child.on("message", (onMessage = (m) => f(m as FromGenerator))),
    onLost: (f) => {
      child.on("error", (onError = (err) => f(err.message)));
      child.on("exit", (onExit = (code, signal) => f(`its process exited with ${signal ?? `code ${code}`}`)));
    },
    close: () => {
      holds.close();
      if (onMessage) child.off("message", onMessage);
      if (onError) child.off("error", onError);
      if (onExit) child.off("exit", onExit);
      if (parkedProcess[home] !== undefined || !child.connected) return void (child.connected && child.disconnect());
      // parked: it keeps no process alive, and ends when this one does (its channel closes)
      child.unref();
      child.channel?.unref();
      parkedProcess[home] = child;
    },
  };
}

/** A forked generator; in `session`, one that leads a new session (setsid), so that it has a scheduling group of its own. */
function newProcess(home: "process" | "session"): ChildProcess {
  const c = fork(fileURLToPath(WORKER), [], { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"], detached: home === "session" });
  c.on("error", () => undefined); // a run listens for its own; a parked process's end must not throw here
  const pid = c.pid;
  if (pid !== undefined) ownHelpers.add(pid); // the host's lane counts its CPU as faultline's
  c.once("exit", () => {
    if (pid !== undefined) ownHelpers.delete(pid);
    if (parkedProcess[home] === c) delete parkedProcess[home];
  });
  return c;
}

/** Starts the generator elsewhere and mirrors its series here as buckets change (at most 100 ms behind). */
function startAway(load: ResolvedLoad, home: "worker" | "process" | "session", nice: number | undefined): Promise<LoadRun> {
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
    away.send({ type: "start", load, ...(nice !== undefined ? { nice } : {}), ...(home === "session" ? { autogroup: true } : {}) });
  });
}
