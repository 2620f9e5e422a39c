import net from "node:net";
import tls from "node:tls";
import { HTTPParser } from "http-parser-js";

/**
 * The builtin engine's HTTP/1.1 client: kept-alive sockets from node:net (or node:tls), one request
 * on a connection at a time, responses parsed by http-parser-js. It does what the generator needs and
 * nothing more, because at 10,000 req/s every object and timer per request shows in the generator's
 * CPU: undici's Agent cost 0.032–0.040 CPU-seconds per 1,000 requests here on its own, about twice
 * this client's (README, "What a request costs the generator"). No timer per request: the generator's sweep
 * cuts a request past its deadline through `abort`; only a connection being opened has one.
 */

/** What the generator holds while its request is out: cutting it closes the connection, as a browser's stop does. */
export interface Controller {
  abort(err: Error): void;
}

/** One request's events; after onResponseEnd or onResponseError nothing more comes. */
export interface Handler {
  /** called before `dispatch` returns */
  onRequestStart(c: Controller): void;
  /** `headers` as they came (read them with `headerValue`) */
  onResponseStart(c: Controller, code: number, headers: RawHeaders): void;
  /** `chunk` is the client's read buffer: valid only during the call (copy what must outlive it) */
  onResponseData(c: Controller, chunk: Buffer): void;
  onResponseEnd(): void;
  onResponseError(c: Controller, err: Error): void;
}

export interface Http1Request {
  method: string;
  path: string;
  /** name, value, name, value …; a frozen array, with the same body and path, is encoded once */
  headers: readonly string[];
  body: Buffer;
}

export interface Http1Options {
  /** connections open at most; a request that finds none idle opens one (requests never wait behind each other) */
  connections: number;
  /** an idle connection is closed after this long */
  keepAliveTimeoutMs: number;
  connectTimeoutMs: number;
}

/** A response's headers as read: name, value, name, value … in the order sent, names as the server wrote them. */
export type RawHeaders = readonly string[];

/**
 * The first value of header `name` (given in lower case), or undefined. No record of every header is
 * built per response: a handler asks for the few it reads, and only names of the same length are lowercased.
 */
export function headerValue(headers: RawHeaders, name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const k = headers[i] as string;
    if (k.length === name.length && (k === name || k.toLowerCase() === name)) return headers[i + 1];
  }
  return undefined;
}

/** A socket error with a code, as node:net gives them (the generator tells timeouts by `code`). */
function codeError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** One request's hold on its connection: once the request has ended, cutting it does nothing (the connection may carry another by then). */
class Ticket implements Controller {
  private readonly c: Connection;
  private readonly h: Handler;

  constructor(c: Connection, h: Handler) {
    this.c = c;
    this.h = h;
  }

  abort(err: Error): void {
    if (this.c.handler === this.h) this.c.cut(err);
  }
}

/** One connection: at most one request on it at a time. */
class Connection {
  /** the request on it now */
  handler: Handler | undefined = undefined;
  idleSince = 0;
  dead = false;
  private keepAlive = true;
  /** the message being read is a 1xx one */
  private interim = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly socket: net.Socket;
  private readonly parser = new HTTPParser(HTTPParser.RESPONSE);
  private readonly pool: Http1Pool;
  private ticket: Ticket | undefined;

  constructor(pool: Http1Pool) {
    this.pool = pool;
    const { host, port, secure, connectTimeoutMs } = pool.target;
    // plain sockets read into the pool's one buffer (no stream chunk per read); TLS ones read as a stream
    const s = secure
      ? tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ["http/1.1"] }).on("data", (d: Buffer) => this.read(d, d.length))
      : net.connect({ port, host, onread: { buffer: pool.readBuffer, callback: (n) => (this.read(pool.readBuffer, n), true) } });
    this.socket = s;
    s.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.cut(codeError(`connect to ${host}:${port} timed out after ${connectTimeoutMs} ms`, "CONNECT_TIMEOUT")), connectTimeoutMs);
    s.once(secure ? "secureConnect" : "connect", () => this.clearConnectTimer());
    s.on("end", () => this.ended());
    s.on("error", (err) => this.cut(err));
    s.on("close", () => this.cut(codeError("the connection closed", "ECONNRESET")));
    const p = this.parser;
    p[HTTPParser.kOnHeadersComplete] = (info) => {
      const h = this.handler;
      this.interim = info.statusCode < 200; // 1xx (103 Early Hints): the answer is still to come
      if (h === undefined || this.interim) return;
      this.keepAlive = info.shouldKeepAlive;
      h.onResponseStart(this.ticket as Ticket, info.statusCode, info.headers); // a new array per message
    };
    p[HTTPParser.kOnBody] = (chunk) => this.handler?.onResponseData(this.ticket as Ticket, chunk);
    p[HTTPParser.kOnMessageComplete] = () => {
      const h = this.handler;
      if (h === undefined || this.interim) return void (this.interim = false);
      this.handler = this.ticket = undefined;
      if (this.keepAlive) this.pool.release(this);
      else this.close();
      h.onResponseEnd();
    };
  }

  send(wire: Buffer, h: Handler): void {
    this.handler = h;
    this.ticket = new Ticket(this, h);
    this.keepAlive = true;
    h.onRequestStart(this.ticket);
    if (this.handler === h) this.socket.write(wire);
  }

  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.clearConnectTimer();
    this.pool.forget(this);
    this.socket.destroy();
  }

  private read(d: Buffer, n: number): void {
    if (this.dead) return;
    const r = this.parser.execute(d, 0, n);
    if (r instanceof Error) this.cut(codeError(`the response could not be parsed: ${r.message}`, "HPE_INVALID"));
  }

  /** The server closed its side: a body without a length ends here; a request still out is cut. */
  private ended(): void {
    if (this.handler !== undefined) this.parser.finish();
    this.cut(codeError("the server closed the connection before the response ended", "ECONNRESET"));
  }

  /** The connection ends, and the request on it with `err`: a cut closes it as a browser's stop does. */
  cut(err: Error): void {
    const h = this.handler;
    const t = this.ticket;
    this.handler = this.ticket = undefined;
    this.close();
    if (h !== undefined) h.onResponseError(t as Ticket, err);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}

/** Connections to one origin, as many as requests in flight, kept alive between requests. */
export class Http1Pool {
  readonly target: { host: string; port: number; secure: boolean; connectTimeoutMs: number };
  /** connections opened so far */
  opened = 0;
  /** what every plain connection reads into: each read is parsed, and its body handed on, before the next */
  readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  private readonly open = new Set<Connection>();
  /** the most recently freed on top: a busy pool keeps reusing its warmest connections */
  private idle: Connection[] = [];
  private readonly authority: string;
  private readonly o: Http1Options;
  /** frozen header arrays' requests, encoded: WeakMap<headers, WeakMap<body, [path, wire]>> */
  private readonly wires = new WeakMap<readonly string[], WeakMap<Buffer, [string, Buffer]>>();
  private readonly reaper: NodeJS.Timeout;
  private closed = false;

  constructor(origin: string, o: Http1Options) {
    const u = new URL(origin);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`${origin}: the builtin engine speaks http and https only`);
    const secure = u.protocol === "https:";
    this.target = { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || (secure ? 443 : 80)), secure, connectTimeoutMs: o.connectTimeoutMs };
    this.authority = u.host;
    this.o = o;
    this.reaper = setInterval(() => this.reap(), Math.min(1000, o.keepAliveTimeoutMs));
    this.reaper.unref();
  }

  /** Sends `req` now, on an idle connection or a new one; `h` hears everything that becomes of it. */
  dispatch(req: Http1Request, h: Handler): void {
    let c: Connection | undefined;
    while ((c = this.idle.pop()) !== undefined && c.dead);
    if (c === undefined) {
      if (this.closed || this.open.size >= this.o.connections) {
        const none: Controller = { abort: () => undefined };
        h.onRequestStart(none);
        return h.onResponseError(none, this.closed ? codeError("the client is closed", "CLIENT_CLOSED") : codeError(`all ${this.o.connections} connections are busy`, "POOL_FULL"));
      }
      c = new Connection(this);
      this.open.add(c);
      this.opened++;
    }
    c.send(this.wire(req), h);
  }

  /** Closes every connection; requests still out end with an error. */
  close(): void {
    this.closed = true;
    clearInterval(this.reaper);
    for (const c of [...this.open]) c.cut(codeError("the client is closed", "CLIENT_CLOSED"));
    this.idle = [];
  }

  release(c: Connection): void {
    if (this.closed) return c.close();
    c.idleSince = performance.now();
    this.idle.push(c);
  }

  forget(c: Connection): void {
    this.open.delete(c);
  }

  /** The request as it goes on the wire, encoded once per body, path and header array. */
  private wire(req: Http1Request): Buffer {
    const frozen = Object.isFrozen(req.headers);
    const cached = frozen ? this.wires.get(req.headers)?.get(req.body) : undefined;
    if (cached !== undefined && cached[0] === req.path) return cached[1];
    let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.authority}\r\ncontent-length: ${req.body.length}\r\n`;
    for (let i = 0; i + 1 < req.headers.length; i += 2) head += `${req.headers[i]}: ${req.headers[i + 1]}\r\n`;
    const wire = Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), req.body]);
    if (frozen) {
      let bodies = this.wires.get(req.headers);
      if (bodies === undefined) this.wires.set(req.headers, (bodies = new WeakMap()));
      bodies.set(req.body, [req.path, wire]);
    }
    return wire;
  }

  /** Idle connections past the keep-alive time are closed (the server may close them sooner: they drop out as it does). */
  private reap(): void {
    const cutoff = performance.now() - this.o.keepAliveTimeoutMs;
    this.idle = this.idle.filter((c) => {
      if (c.dead) return false;
      if (c.idleSince > cutoff) return true;
      c.close();
      return false;
    });
  }
}
