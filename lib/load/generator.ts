import { Http1Pool, headerValue } from "./http1.ts";
import type { Controller, Handler, RawHeaders } from "./http1.ts";
import { newHistogram } from "../schema/series.ts";
import type { LoadBucket, LoadSeries, Outcome, SessionAcks } from "../schema/series.ts";
import { SeriesRecorder } from "./recorder.ts";
import type { LiveBucket } from "./recorder.ts";
import { prepareBodies } from "./requests.ts";
import { dueAt, dueBy } from "./schedule.ts";
import type { ClientRetry } from "../schema/experiment.ts";
import type { LoadOverlay, RequestTemplate, ResolvedLoad } from "./types.ts";

/**
 * The builtin engine's request scheduler, in whichever thread runs it (a worker thread by default,
 * see builtin.ts): an open model on faultline's own HTTP/1.1 client (http1.ts), each request measured from its
 * *scheduled* send time, so a stalled server shows as latency in the buckets of the stall instead
 * of fewer requests (no coordinated omission).
 */

const BODIES_PER_TEMPLATE = 32;
const TICK_MS = 2;
/** How often the generator checks its own event loop; a beat later than two of these is a block. */
const LOOP_BEAT_MS = 20;
/** How often requests past their whole-request deadline are cut (the client keeps no timer per request). */
const SWEEP_MS = 100;
/** frozen: the client encodes each body with these once */
const HEADERS = Object.freeze(["content-type", "application/json"]);
/** Each token of a stream is one server-sent event carrying a JSON chunk (OpenAI's streaming format). */
const TOKEN_EVENT = Buffer.from("data: {");
/**
 * A BroadcastChannel on which anything in this process can ask the generator to hold its scheduler
 * for `{ holdMs }`: how the tests stall the instrument on purpose, wherever it runs.
 */
export const GENERATOR_CONTROL = "faultline:generator-control";

/** A conversation's turn: the request headers that carry it, and the answer's acknowledgement (lib/stack/replica.ts). */
const SESSION_HEADER = "x-faultline-session";
const TURN_HEADER = "x-faultline-turn";
const ACK_HEADER = "x-faultline-session-ack";

interface Turn {
  id: string;
  turn: number;
}

/** What a settled request tells its generator. */
type Settle = (x: Exchange, outcome: Outcome) => void;

/** A request body ready to send, and the path it goes to. */
interface Prepared {
  path: string;
  body: Buffer;
  stream: boolean;
  /** the tokens a stream is owed (its max_tokens): what a cut one lost is counted against it */
  maxTokens: number;
  /** share of these streams the client cancels, and after how many tokens */
  cancelShare: number;
  cancelAfter: number;
}

/** The retry policy's failure names, by outcome. */
const RETRY_NAME: Partial<Record<Outcome, ClientRetry["on"][number]>> = { s5xx: "5xx", s429: "429", timeout: "timeout", connError: "connError" };

/**
 * One request, as the client's events reach it: no promise, stream or abort signal per request (at
 * 10,000 req/s they cost about a third of the generator's CPU); a stream's time to each token goes into
 * its bucket as the chunks arrive.
 */
class Exchange implements Handler {
  code = 0;
  region: string | undefined = undefined;
  version: string | undefined = undefined;
  timedOut = false;
  /** tokens received so far (a stream's events) */
  tokens = 0;
  /** the client left on purpose, after `cancelAt` tokens */
  cancelled = false;
  /** a turn's answer said it was kept: when (epoch ms) */
  ackedAt = 0;
  private controller: Controller | undefined = undefined;
  private last = 0;
  private done = false;
  private settled = false;

  readonly lb: LiveBucket;
  readonly schedPerf: number;
  readonly deadline: number;
  readonly req: Prepared;
  /** 0 for the first try, n for the n-th retry */
  readonly attempt: number;
  /** cancel the stream once this many tokens came (0: never) */
  readonly cancelAt: number;
  readonly turn: Turn | undefined;
  private readonly stream: boolean;
  private readonly settle: Settle;

  constructor(lb: LiveBucket, schedPerf: number, deadline: number, req: Prepared, attempt: number, cancelAt: number, turn: Turn | undefined, settle: Settle) {
    this.turn = turn;
    this.lb = lb;
    this.schedPerf = schedPerf;
    this.deadline = deadline;
    this.req = req;
    this.attempt = attempt;
    this.cancelAt = cancelAt;
    this.stream = req.stream;
    this.settle = settle;
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
  }

  onResponseStart(_c: Controller, code: number, headers: RawHeaders): void {
    this.code = code;
    const region = headerValue(headers, "x-faultline-region");
    const version = headerValue(headers, "x-faultline-version");
    if (region !== undefined) this.region = region;
    if (version !== undefined) this.version = version;
    if (this.turn !== undefined && headerValue(headers, ACK_HEADER) === String(this.turn.turn)) this.ackedAt = Date.now();
  }

  onResponseData(_c: Controller, chunk: Buffer): void {
    if (!this.stream || this.code !== 200) return;
    const now = performance.now();
    const lb = this.lb;
    if (this.last === 0) (lb.ttft ??= newHistogram()).recordValue(Math.max(1, Math.round((now - this.schedPerf) * 1000)));
    else (lb.itl ??= newHistogram()).recordValue(Math.max(1, Math.round((now - this.last) * 1000)));
    this.last = now;
    for (let i = chunk.indexOf(TOKEN_EVENT); i !== -1; i = chunk.indexOf(TOKEN_EVENT, i + TOKEN_EVENT.length)) this.tokens++;
    if (chunk.includes("[DONE]")) this.done = true;
    else if (this.cancelAt > 0 && this.tokens >= this.cancelAt && !this.cancelled) {
      // the user pressed stop: the connection closes mid-stream, as a browser's or an SDK's abort does
      this.cancelled = true;
      this.controller?.abort(new Error("cancelled by the client"));
    }
  }

  onResponseEnd(): void {
    const code = this.code;
    if (this.stream && code === 200) this.end(this.done ? "ok" : "streamCut");
    else this.end(code < 300 ? "ok" : code === 429 ? "s429" : code < 500 ? "s4xx" : "s5xx");
  }

  onResponseError(_c: Controller, err: Error): void {
    if (this.cancelled) return this.end("ok");
    if (this.stream && this.code === 200) return this.end("streamCut"); // the stream broke (or ran out of time) mid-way
    const code = (err as { code?: string }).code ?? "";
    this.end(this.timedOut || err.name === "TimeoutError" || code.includes("TIMEOUT") ? "timeout" : "connError");
  }

  /** Past the whole-request deadline: cut it. */
  expire(): void {
    this.timedOut = true;
    this.controller?.abort(new Error("timeout"));
  }

  private end(outcome: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(this, outcome);
  }
}

/**
 * The generator stands for clients on machines of their own, so on one shared host the system under
 * test must not be able to make it late: its thread asks for this nice value. Linux keeps a nice
 * value per thread (setpriority on the calling thread), so the stack and the rest of faultline keep
 * theirs; the generator gets the CPU as soon as a send is due, and no more CPU than its own. Below 0
 * needs root or CAP_SYS_NICE; refused, it runs at the nice value it had and says why.
 */
export const GENERATOR_NICE = -10;

/** The nice value asked for: GENERATOR_NICE, or FAULTLINE_GENERATOR_NICE (an integer, -20 to 19; 0 leaves the thread as it was). */
export function generatorNice(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.FAULTLINE_GENERATOR_NICE;
  if (v === undefined || v === "") return GENERATOR_NICE;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -20 || n > 19) throw new Error(`FAULTLINE_GENERATOR_NICE=${v}: expected an integer from -20 to 19`);
  return n;
}

/** The nice value the generator's thread ran at, and why not the one asked for when refused. */
export interface GeneratorPriority {
  nice: number;
  /** a generator in a session of its own (home `session`): the nice value of its session's scheduling group */
  autogroup?: number;
  refused?: string;
}

export interface Generator {
  /** Live: buckets fill as requests complete. */
  readonly series: LoadSeries;
  readonly done: Promise<LoadSeries>;
  stop(): void;
  /** Multiplies the profile's rate from now on (1 puts it back): a surge, or a dip. */
  setRateFactor(factor: number): void;
  /** From now on a share of the requests are long ones (undefined puts the mix back). */
  setOverlay(overlay: LoadOverlay | undefined): void;
  /** Buckets changed since the last call: a worker posts these to its parent. */
  takeChanged(): [number, LoadBucket][];
}

/** Starts sending `load` from this thread. */
export function startGenerator(load: ResolvedLoad): Generator {
  // As many connections as requests in flight: clients are independent, so one hung request must
  // not queue the next behind it (that queueing would be the generator's, not the system's).
  const client = new Http1Pool(new URL(load.baseUrl).origin, { connections: load.maxInFlight, keepAliveTimeoutMs: 30_000, connectTimeoutMs: 5000 });
  const prepared = (t: RequestTemplate): { t: RequestTemplate; bodies: Prepared[] } => ({
    t,
    bodies: prepareBodies(t, BODIES_PER_TEMPLATE).map((r): Prepared => ({ path: t.path, body: Buffer.from(r.body), stream: r.stream, maxTokens: t.maxTokens, cancelShare: t.cancelShare ?? 0, cancelAfter: t.cancelAfterTokens ?? Math.max(1, Math.floor(t.maxTokens / 2)) })),
  });
  const templates = load.mix.map(prepared);
  /** a kv-pressure fault's long requests: this share of those due take one of its bodies instead */
  let overlay: { share: number; from: number; rampMs: number; x: { t: RequestTemplate; bodies: Prepared[] } } | undefined;
  const totalWeight = templates.reduce((s, x) => s + x.t.weight, 0);
  const startPerf = performance.now();
  const rec = new SeriesRecorder(Date.now(), startPerf, load.rate);
  const inflight = new Set<Exchange>();
  const retry = load.retry;
  const retryOn = new Set(retry?.on ?? []);
  let sent = 0;
  let stopped = false;
  /** stopped from outside (an abort): retries end too, not only new requests */
  let halted = false;
  let seq = 0;
  /** retries waiting out their backoff, each with what ends its request should the run end first */
  const backingOff = new Map<NodeJS.Timeout, () => void>();

  // conversations: each template's turn counter, and what clients were told was kept
  const prefix = `s${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const turnsSent = new Map<RequestTemplate, number>();
  const acks: SessionAcks = { acked: {} };
  const nextTurn = (t: RequestTemplate): Turn | undefined => {
    const s = t.sessions;
    if (s === undefined) return undefined;
    const k = turnsSent.get(t) ?? 0;
    turnsSent.set(t, k + 1);
    const conv = Math.floor(k / s.count); // how many turns each conversation had before this one
    const base = `${prefix}-${t.name}-${k % s.count}`;
    return s.turns > 0 ? { id: `${base}-${Math.floor(conv / s.turns)}`, turn: (conv % s.turns) + 1 } : { id: base, turn: conv + 1 };
  };

  const send = (lb: LiveBucket, schedPerf: number, req: Prepared, attempt: number, cancelAt: number, turn?: Turn): void => {
    const x = new Exchange(lb, schedPerf, (attempt === 0 ? schedPerf : performance.now()) + load.timeoutMs, req, attempt, cancelAt, turn, settle);
    inflight.add(x);
    let headers: readonly string[] = attempt === 0 ? HEADERS : [...HEADERS, "x-retry-attempt", String(attempt)];
    if (turn !== undefined) headers = [...headers, SESSION_HEADER, turn.id, TURN_HEADER, String(turn.turn)];
    client.dispatch({ path: req.path, method: "POST", headers, body: req.body }, x);
  };

  const settle: Settle = (x, outcome) => {
    inflight.delete(x);
    const name = RETRY_NAME[outcome];
    if (retry !== undefined && name !== undefined && retryOn.has(name) && x.attempt < retry.attempts && !halted && inflight.size < load.maxInFlight) {
      x.lb.b.retries = (x.lb.b.retries ?? 0) + 1;
      const timer = setTimeout(() => {
        backingOff.delete(timer);
        if (halted) finalize(x, outcome);
        else send(x.lb, x.schedPerf, x.req, x.attempt + 1, x.cancelAt, x.turn);
      }, backoffMs(retry, x.attempt));
      backingOff.set(timer, () => finalize(x, outcome));
      return;
    }
    finalize(x, outcome);
  };
  const finalize = (x: Exchange, outcome: Outcome): void => {
    x.lb.pending--;
    const b = x.lb.b;
    if (x.cancelled) b.cancelled = (b.cancelled ?? 0) + 1;
    if (outcome === "streamCut") b.tokensLost = (b.tokensLost ?? 0) + Math.max(0, x.req.maxTokens - x.tokens);
    if (x.turn !== undefined) {
      const s = (b.sessions ??= { writes: 0, acked: 0 });
      s.writes++;
      // acknowledged: the answer said so, whatever became of the rest of it (the turn was kept before the GPU saw it)
      if (x.ackedAt > 0) {
        s.acked++;
        (acks.acked[x.turn.id] ??= []).push([x.turn.turn, x.ackedAt]);
      }
    }
    // a cancelled stream's duration is the client's choice, not the system's latency
    rec.finish(x.lb, outcome, x.schedPerf, x.region, x.version, !x.cancelled);
  };

  const fire = (schedPerf: number): void => {
    const lb = rec.bucketFor(schedPerf);
    lb.b.sent++;
    sent++;
    rec.noteLag(lb, performance.now() - schedPerf);
    if (inflight.size >= load.maxInFlight) {
      lb.b.outcomes.dropped++;
      return;
    }
    // spread evenly (the golden ratio's sequence picks the template, the plastic number's the overlay)
    const chosen = overlay !== undefined && ((seq * 0.7548776662) % 1) < overlay.share * Math.min(1, (schedPerf - overlay.from) / Math.max(1, overlay.rampMs)) ? overlay.x : pickTemplate(templates, ((seq * 0.6180339887) % 1) * totalWeight);
    seq++;
    lb.pending++;
    const req = chosen.bodies[seq % BODIES_PER_TEMPLATE] as Prepared;
    send(lb, schedPerf, req, 0, req.stream && req.cancelShare > 0 && Math.random() < req.cancelShare ? req.cancelAfter : 0, nextTurn(chosen.t));
  };

  const sweep = setInterval(() => expireLate(inflight), SWEEP_MS);
  const beat = watchLoop(rec);
  const control = listenForHolds();
  let resolveDone!: (s: LoadSeries) => void;
  const done = new Promise<LoadSeries>((r) => (resolveDone = r));
  const finish = async (): Promise<void> => {
    const tries = 1 + (retry?.attempts ?? 0);
    const deadline = Date.now() + tries * load.timeoutMs + (tries - 1) * (retry?.maxBackoff ?? 0) + 1000;
    while ((inflight.size > 0 || backingOff.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // past the deadline a retry still waiting is not sent: its request ends with the try that failed
    for (const [timer, end] of backingOff) {
      clearTimeout(timer);
      end();
    }
    backingOff.clear();
    clearInterval(beat);
    clearInterval(sweep);
    control.close();
    // a request still out past the deadline ends here, counted, before the series closes: no retry after it
    halted = true;
    client.close();
    const series = rec.close();
    if (turnsSent.size > 0) series.sessionAcks = acks;
    resolveDone(series);
  };

  const maxRequests = load.maxRequests ?? Infinity;
  // The schedule in segments: from `at` (ms since the start) on, `factor` × the profile's rate, on
  // top of the `count` requests due by then. A surge changes the factor without moving a due time.
  let seg = { count: 0, at: 0, factor: 1 };
  const dueNow = (elapsed: number): number => seg.count + seg.factor * (dueBy(load, elapsed) - dueBy(load, seg.at));
  const dueTime = (k: number): number => dueAt(load, dueBy(load, seg.at) + (k - seg.count) / seg.factor);
  let last = Math.min(maxRequests, Math.ceil(dueNow(load.durationMs)));
  const setRateFactor = (factor: number): void => {
    if (!(factor > 0) || stopped) return;
    const elapsed = performance.now() - startPerf;
    seg = { count: dueNow(elapsed), at: elapsed, factor };
    last = Math.min(maxRequests, Math.ceil(dueNow(load.durationMs)));
  };
  const setOverlay = (o: LoadOverlay | undefined): void => {
    // the long requests look like the profile's first template (its path and model), without its conversations or cancels
    const base = load.mix[0] as RequestTemplate;
    const x = o && prepared({ name: "kv-pressure", weight: 1, path: base.path, model: base.model, promptTokens: { min: o.promptTokens, max: o.promptTokens }, maxTokens: o.maxTokens, streamShare: o.stream ? 1 : 0, cancelShare: 0 });
    overlay = o && x && { share: o.share, from: performance.now(), rampMs: o.rampMs, x };
  };
  const tick = (): void => {
    const elapsed = performance.now() - startPerf;
    if (stopped || elapsed >= load.durationMs || sent >= maxRequests) {
      stopped = true;
      void finish();
      return;
    }
    // Every request due by now leaves now, each stamped with the time it was due, from the
    // schedule's integral (a ramp's current rate would misdate every request by the ramp's lag).
    // By `elapsed`, floor(dueNow(elapsed)) + 1 are due (the first at 0); request k fell due at dueTime(k).
    const due = Math.min(Math.floor(dueNow(elapsed)) + 1, last);
    while (sent < due) fire(Math.min(startPerf + dueTime(sent), startPerf + elapsed));
    rec.seal(false);
    setTimeout(tick, TICK_MS);
  };
  setImmediate(tick);

  return {
    series: rec.series,
    done,
    stop: () => void (stopped = halted = true),
    setRateFactor,
    setOverlay,
    takeChanged: () => rec.takeChanged(),
  };
}

/** The wait before retry `attempt + 1`: exponential from `backoff`, capped, with full jitter or none. */
export function backoffMs(retry: ClientRetry, attempt: number, random = Math.random): number {
  const ceiling = Math.min(retry.maxBackoff, retry.backoff * 2 ** attempt);
  return retry.jitter === "full" ? random() * ceiling : ceiling;
}

/** Tries past their deadline are cut. */
function expireLate(inflight: ReadonlySet<Exchange>): void {
  const now = performance.now();
  for (const x of inflight) if (now >= x.deadline && !x.timedOut) x.expire();
}

/** The control channel: a `{ holdMs }` message holds this thread, as a stalled generator would be. */
function listenForHolds(): BroadcastChannel {
  const control = new BroadcastChannel(GENERATOR_CONTROL);
  control.onmessage = (e) => {
    const ms = (e as MessageEvent<{ holdMs?: unknown }>).data.holdMs;
    if (typeof ms === "number" && ms > 0 && ms <= 60_000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  };
  (control as unknown as { unref(): void }).unref(); // Node's BroadcastChannel has unref(); the DOM type does not
  return control;
}

/** The generator's own loop: a timer that fires late says how long the loop was held, and where. */
function watchLoop(rec: SeriesRecorder): NodeJS.Timeout {
  let last = performance.now();
  return setInterval(() => {
    const now = performance.now();
    const held = now - last - LOOP_BEAT_MS;
    if (held > LOOP_BEAT_MS) rec.noteLoopBlock(now, held);
    last = now;
  }, LOOP_BEAT_MS);
}

/** The template that a point `pick` in [0, total weight) lands on: a low-discrepancy sequence of points keeps the mix exact over short windows. */
function pickTemplate<T extends { t: { weight: number } }>(templates: readonly T[], pick: number): T {
  for (const x of templates) if ((pick -= x.t.weight) < 0) return x;
  return templates[0] as T;
}
