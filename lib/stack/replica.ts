import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { BLOCK_TOKENS, Batcher, Seq, blocksFor, capacityPerSecond, serviceMs, stepMs } from "./capacity.ts";
import type { Regression, StackConfig } from "./config.ts";
import { readJsonBody } from "./http.ts";
import { DCGM_PATH, ReplicaMetrics } from "./replica-metrics.ts";
import { SessionClient } from "../clients/sessions.ts";
import type { SessionClientConfig } from "../clients/sessions.ts";

export interface ReplicaOptions {
  name: string;
  region: string;
  zone: string;
  host: string;
  port: number;
  replica: StackConfig["replica"];
  /** the session store: requests that carry a session have their turn kept there before they are answered */
  session?: SessionClientConfig;
}

/** Request headers of a conversation's turn, and the answer's acknowledgement of it. */
export const SESSION_HEADER = "x-faultline-session";
export const TURN_HEADER = "x-faultline-turn";
export const ACK_HEADER = "x-faultline-session-ack";

/** Exit code of a replica that ran out of GPU memory; the supervisor counts it as an OOM kill. */
export const OOM_EXIT_CODE = 3;

const NO_REGRESSION: Regression = { errorRate: 0, latencyFactor: 1, leakMiBPerRequest: 0 };
const MAX_BODY = 1 << 20;

/**
 * A simulated LLM inference server: OpenAI-compatible completions (streaming and not), a GPU with
 * finite memory (model weights + a KV cache per in-flight request), and a crash on OOM as a real
 * server does. Timings come from config and scale with the version's regression.
 */
export class Replica {
  private readonly o: ReplicaOptions;
  private readonly server: Server;
  private version: string;
  private regression: Regression;
  private ready = false;
  private draining = false;
  private readonly batcher: Batcher;
  /** the requests' mean shape (moving average), for the capacity the replica exports */
  private readonly shape = { promptTokens: 64, maxTokens: 16 };
  private leakedMiB = 0;
  private pressureMiB = 0;
  private crashing = false;
  /** the last XID the GPU reported; while it is set the GPU is unusable and the replica serves nothing */
  private xid = 0;
  private readonly metricsOf: ReplicaMetrics;
  private readonly sessions: SessionClient | undefined;

  constructor(o: ReplicaOptions) {
    this.o = o;
    this.version = o.replica.version;
    this.regression = o.replica.versions[this.version] ?? NO_REGRESSION;
    this.batcher = new Batcher(o.replica);
    this.metricsOf = new ReplicaMetrics(o.replica.model, this.version, o.name);
    this.sessions = o.session && new SessionClient(o.session);
    this.server = createServer((req, res) => this.route(req, res));
    this.server.keepAliveTimeout = 65_000;
  }

  private get usedMiB(): number {
    return this.o.replica.weightsMiB + this.kvMiB + this.leakedMiB + this.pressureMiB;
  }

  /** The KV cache's blocks in use, in MiB. */
  private get kvMiB(): number {
    return this.batcher.usedBlocks * BLOCK_TOKENS * this.o.replica.kvCacheMiBPerToken;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.o.port, this.o.host, () => resolve());
    });
    setTimeout(() => (this.ready = true), this.o.replica.loadMs).unref();
  }

  async stop(): Promise<void> {
    this.sessions?.close();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private headers(res: ServerResponse): void {
    res.setHeader("x-faultline-region", this.o.region);
    res.setHeader("x-faultline-replica", this.o.name);
    res.setHeader("x-faultline-version", `${this.o.replica.model}:${this.version}`);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    if (req.method === "POST" && (url === "/v1/chat/completions" || url === "/v1/completions")) {
      const session = req.headers[SESSION_HEADER];
      const turn = Number(req.headers[TURN_HEADER]);
      const turnOf = typeof session === "string" && session !== "" && Number.isInteger(turn) && turn > 0 ? { session, turn } : undefined;
      this.readJson(req, res, (body) => void this.complete(url === "/v1/chat/completions", body, res, turnOf));
      return;
    }
    if (url === "/readyz") return this.plain(res, this.ready && !this.draining && !this.crashing && this.xid === 0 ? 200 : 503, this.xid !== 0 ? `GPU XID ${this.xid}` : this.ready ? "ready" : "loading");
    if (url === "/healthz") return this.plain(res, this.crashing ? 503 : 200, "ok");
    if (url === "/metrics") return void this.metrics(res);
    if (url === DCGM_PATH) return void this.gpuMetrics(res);
    if (url === "/v1/models") return this.json(res, 200, { object: "list", data: [{ id: this.o.replica.model, object: "model", owned_by: "faultline" }] });
    if (url === "/admin/state") return this.json(res, 200, this.state());
    if (req.method === "POST" && url.startsWith("/admin/")) {
      this.readJson(req, res, (body) => this.admin(url, body, res));
      return;
    }
    this.json(res, 404, { error: { message: `no route ${req.method} ${url}`, type: "not_found" } });
  }

  private state(): Record<string, unknown> {
    return {
      name: this.o.name,
      region: this.o.region,
      zone: this.o.zone,
      model: this.o.replica.model,
      version: this.version,
      regression: this.regression,
      ready: this.ready && !this.draining && this.xid === 0,
      xid: this.xid,
      inflight: this.batcher.inflight,
      queued: this.batcher.queued,
      gpu: { capacityMiB: this.o.replica.gpuMemoryMiB, usedMiB: Math.round(this.usedMiB), pressureMiB: this.pressureMiB, leakedMiB: Math.round(this.leakedMiB) },
    };
  }

  private admin(url: string, body: Record<string, unknown>, res: ServerResponse): void {
    if (url === "/admin/version") {
      const version = body.version;
      if (typeof version !== "string" || version === "") return this.json(res, 400, { error: { message: "body needs {version}" } });
      this.metricsOf.serving(this.version, version);
      this.version = version;
      this.regression = { ...NO_REGRESSION, ...(this.o.replica.versions[version] ?? {}), ...((body.regression as Partial<Regression> | undefined) ?? {}) };
      return this.json(res, 200, this.state());
    }
    if (url === "/admin/gpu-pressure") {
      const set = body.setMiB;
      const add = body.addMiB;
      if (typeof set === "number") this.pressureMiB = Math.max(0, set);
      else if (typeof add === "number") this.pressureMiB = Math.max(0, this.pressureMiB + add);
      else return this.json(res, 400, { error: { message: "body needs {setMiB} or {addMiB}" } });
      if (this.usedMiB > this.o.replica.gpuMemoryMiB) {
        this.json(res, 507, { error: { message: this.oomMessage(0), type: "oom" } });
        this.crash(`gpu pressure ${this.pressureMiB} MiB`);
        return;
      }
      return this.json(res, 200, this.state());
    }
    if (url === "/admin/xid") {
      // a GPU error the driver reports (XID 79: fallen off the bus; 48: double-bit ECC): the exporter shows the
      // code, CUDA calls fail, and the server answers nothing until the GPU is reset (`{xid: 0}`, what node
      // remediation does by draining and rebooting)
      const xid = body.xid;
      if (typeof xid !== "number" || !Number.isInteger(xid) || xid < 0) return this.json(res, 400, { error: { message: "body needs {xid}: an XID code, 0 to clear" } });
      this.xid = xid;
      return this.json(res, 200, this.state());
    }
    if (url === "/admin/drain") {
      this.draining = body.drain !== false;
      return this.json(res, 200, this.state());
    }
    this.json(res, 404, { error: { message: `no admin route ${url}` } });
  }

  private oomMessage(wantMiB: number): string {
    const free = this.o.replica.gpuMemoryMiB - this.usedMiB;
    return `CUDA out of memory. Tried to allocate ${wantMiB.toFixed(1)} MiB (GPU 0; ${this.o.replica.gpuMemoryMiB} MiB total capacity; ${Math.max(0, free).toFixed(1)} MiB free)`;
  }

  /** As a real server does: the failing request errors, then the process dies and is restarted. */
  private crash(why: string): void {
    if (this.crashing) return;
    this.crashing = true;
    this.metricsOf.oom();
    process.stderr.write(`OOM: ${this.o.name}: ${why}: ${this.oomMessage(0)}\n`);
    setTimeout(() => process.exit(OOM_EXIT_CODE), 50).unref();
  }

  private async complete(chat: boolean, body: Record<string, unknown>, res: ServerResponse, turnOf?: { session: string; turn: number }): Promise<void> {
    const t0 = performance.now();
    this.metricsOf.received();
    const r = this.o.replica;
    const reg = this.regression;
    const model = r.model;
    const version = this.version;
    this.headers(res);
    const fail = (code: number, message: string, type: string): void => {
      this.metricsOf.count(version, code);
      this.json(res, code, { error: { message, type } });
    };
    if (!this.ready || this.crashing) return fail(503, "model not loaded", "unavailable");
    if (this.xid !== 0) return fail(503, `CUDA error: GPU reported XID ${this.xid}; the device is unusable until reset`, "unavailable");
    if (turnOf !== undefined && this.sessions !== undefined) {
      // the conversation's history read and this turn kept before the GPU sees it: a turn the store
      // cannot keep is not answered (the client must not believe a conversation the store lost).
      // 424 (Failed Dependency), not 503: the store is every replica's, so the gateway must neither
      // count it against this replica (a 5xx marks servers down: measured, every server of every
      // region DOWN while the store failed over) nor retry it on another that shares the store.
      const w = await this.sessions.appendTurn(turnOf.session, turnOf.turn);
      if (!w.acked) {
        this.metricsOf.sessionWrite(false);
        return fail(424, `session store: ${w.why}`, "session_unavailable");
      }
      this.metricsOf.sessionWrite(true);
      res.setHeader(ACK_HEADER, String(turnOf.turn));
    }
    const input = chat ? body.messages : body.prompt;
    const promptTokens = Math.max(1, Math.ceil(promptChars(input) / 4));
    // a conversation's earlier turns were this replica's prompt before: vLLM finds them in its prefix cache
    const cachedTokens = Math.min(promptTokens - 1, Math.ceil(prefixChars(input) / 4));
    const maxTokens = typeof body.max_tokens === "number" && body.max_tokens > 0 ? Math.min(body.max_tokens, 4096) : r.defaultMaxTokens;
    if (blocksFor(promptTokens + maxTokens) > this.batcher.totalBlocks) {
      // vLLM refuses what its KV cache could never hold, before it queues (its max_model_len)
      return fail(400, `This model's maximum context length is ${this.batcher.maxTokens} tokens. However, you requested ${promptTokens + maxTokens} tokens (${promptTokens} in the messages, ${maxTokens} in the completion).`, "invalid_request_error");
    }
    this.shape.promptTokens += (promptTokens - this.shape.promptTokens) / 100;
    this.shape.maxTokens += (maxTokens - this.shape.maxTokens) / 100;
    const seq = new Seq(promptTokens);
    let closed = false;
    res.once("close", () => {
      closed = true;
      // its slot and KV blocks free now, or its place in the queue: no more steps for a client that left
      this.batcher.release(seq);
    });
    const slot = this.batcher.acquire(seq);
    if (slot === "shed") {
      this.metricsOf.shed();
      res.setHeader("retry-after", String(this.batcher.retryAfterSeconds(promptTokens, maxTokens)));
      return fail(429, `overloaded: ${this.batcher.queued} requests already wait for ${r.maxBatch} batch slots`, "overloaded");
    }
    if (!(await slot)) return; // the client left while it waited
    this.metricsOf.waited((performance.now() - t0) / 1000);
    if (this.outOfMemory(seq, res, fail)) return;
    this.leakedMiB += reg.leakMiBPerRequest;

    const f = reg.latencyFactor;
    const { tokenize: tokenizeMs, ttft: ttftMs, post: postMs } = serviceMs(r, promptTokens, maxTokens, this.batcher.inflight, f);
    const stream = body.stream === true;
    const failed = reg.errorRate > 0 && Math.random() < reg.errorRate;

    if (failed) {
      await sleep(tokenizeMs + ttftMs);
      this.batcher.release(seq);
      return fail(500, `internal error in ${model}:${this.version}`, "server_error");
    }
    const id = `cmpl-${this.o.name}-${Math.floor(Math.random() * 1e9).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    await sleep(tokenizeMs + ttftMs);
    // the first token comes with the prefill; each next one is a decode step of the whole batch, and
    // takes a KV block whenever the sequence's last is full: a sequence preempted for want of one
    // waits to be readmitted, then prefills again what it had (vLLM's recompute)
    const firstTokenAt = performance.now();
    if (stream) {
      if (closed) return;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    }
    const chunk = (tokens: number): string => {
      const content = "tok ".repeat(tokens);
      const delta = chat ? { choices: [{ index: 0, delta: { content }, finish_reason: null }] } : { choices: [{ index: 0, text: content, finish_reason: null }] };
      return `data: ${JSON.stringify({ id, object: chat ? "chat.completion.chunk" : "text_completion", created, model, ...delta })}\n\n`;
    };
    let last = firstTokenAt;
    let sent = 0;
    while (sent < maxTokens && !closed) {
      // the steps up to the next event (a stream's interval, 1 by default), or, for a whole answer, up to the
      // token that needs the next block: either way never past a block's end, where the scheduler may preempt
      const toBlockEnd = ((BLOCK_TOKENS - (seq.tokens % BLOCK_TOKENS)) % BLOCK_TOKENS) + 1;
      const n = sent === 0 ? 1 : Math.min(maxTokens - sent, toBlockEnd, stream ? r.streamIntervalTokens : Infinity);
      if (sent > 0) {
        await sleep(stepMs(r, this.batcher.inflight, f) * n);
        if (closed) break;
        const grown = this.batcher.grow(seq, n);
        if (grown !== true) {
          if (!(await grown)) return; // its client left while it was preempted
          if (this.outOfMemory(seq, res, fail)) return;
          await sleep(ttftMs);
        } else if (this.outOfMemory(seq, res, fail)) return;
        if (closed) break;
        const now = performance.now();
        if (stream) for (let i = 0; i < n; i++) this.metricsOf.interToken((now - last) / 1000 / n);
        last = now;
      }
      if (stream) res.write(chunk(sent === 0 ? 1 : n));
      sent += sent === 0 ? 1 : n;
    }
    if (closed) {
      if (stream) this.metricsOf.aborted(promptTokens, sent);
      return;
    }
    await sleep(postMs);
    this.batcher.release(seq);
    if (closed) return;
    this.metricsOf.finished({ version, t0, tokenizeMs, prefillMs: ttftMs, decodeMs: last - firstTokenAt, postMs, firstTokenAt, promptTokens, cachedTokens, outputTokens: maxTokens, streamed: stream });
    this.metricsOf.count(version, 200);
    if (stream) {
      res.end("data: [DONE]\n\n");
      return;
    }
    const text = "tok ".repeat(maxTokens).trimEnd();
    const choice = chat ? { index: 0, message: { role: "assistant", content: text }, finish_reason: "length" } : { index: 0, text, finish_reason: "length" };
    const usage = { prompt_tokens: promptTokens, completion_tokens: maxTokens, total_tokens: promptTokens + maxTokens };
    this.json(res, 200, { id, object: chat ? "chat.completion" : "text_completion", created, model: `${model}:${this.version}`, choices: [choice], usage });
  }

  /**
   * Blocks the scheduler handed out that the GPU does not have (memory taken outside the KV cache:
   * pressure, a leak): CUDA fails the allocation, the request errors and the server dies, as a real one does.
   */
  private outOfMemory(seq: Seq, res: ServerResponse, fail: (code: number, message: string, type: string) => void): boolean {
    if (this.usedMiB <= this.o.replica.gpuMemoryMiB) return false;
    const want = seq.blocks * BLOCK_TOKENS * this.o.replica.kvCacheMiBPerToken;
    this.batcher.release(seq);
    if (res.headersSent) res.end();
    else fail(507, this.oomMessage(want), "oom");
    this.crash("KV cache allocation");
    return true;
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const r = this.o.replica;
    const text = await this.metricsOf.render({ inflight: this.batcher.inflight, maxBatch: r.maxBatch, queued: this.batcher.queued, kvUsage: this.batcher.usage, preemptions: this.batcher.preemptions, capacityRps: capacityPerSecond(r, this.shape.promptTokens, this.shape.maxTokens) });
    res.setHeader("content-type", this.metricsOf.contentType);
    res.end(text);
  }

  private async gpuMetrics(res: ServerResponse): Promise<void> {
    const r = this.o.replica;
    const text = await this.metricsOf.renderGpu({ usedMiB: this.usedMiB, capacityMiB: r.gpuMemoryMiB, inflight: this.batcher.inflight, maxBatch: r.maxBatch, xid: this.xid });
    res.setHeader("content-type", this.metricsOf.gpu.contentType);
    res.end(text);
  }

  private readJson(req: IncomingMessage, res: ServerResponse, then: (body: Record<string, unknown>) => void): void {
    readJsonBody(req, MAX_BODY, (code, message) => this.json(res, code, { error: { message, ...(code === 400 ? { type: "invalid_request_error" } : {}) } }), then);
  }

  private plain(res: ServerResponse, code: number, text: string): void {
    this.headers(res);
    res.writeHead(code, { "content-type": "text/plain" });
    res.end(text);
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const s = JSON.stringify(body);
    res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(s) });
    res.end(s);
  }
}

/** Characters of the prompt: the messages' contents (chat) or the prompt text. */
function promptChars(input: unknown): number {
  if (typeof input === "string") return input.length;
  if (!Array.isArray(input)) return 0;
  let n = 0;
  for (const m of input) {
    const c = (m as { content?: unknown } | null)?.content;
    n += typeof c === "string" ? c.length : 16;
  }
  return n;
}

/** Characters of a conversation's earlier messages: every message but the last (the new turn). */
function prefixChars(input: unknown): number {
  return Array.isArray(input) && input.length > 1 ? promptChars(input.slice(0, -1)) : 0;
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, ms));
}
