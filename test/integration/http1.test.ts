import { expect } from "chai";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { AddressInfo, Server, Socket } from "node:net";
import { Http1Pool, headerValue } from "../../lib/load/http1.ts";
import type { Controller, Handler, RawHeaders } from "../../lib/load/http1.ts";
import { ROOT, freePort, startHttpServer } from "../helpers/servers.ts";

/** What became of one request, as the client told it. */
interface Seen {
  code: number;
  headers: RawHeaders;
  body: string;
  chunks: number;
  error: (Error & { code?: string }) | undefined;
  ended: boolean;
}

/** Sends one request and resolves when it ended or failed; `during` sees the controller, then every chunk. */
function request(pool: Http1Pool, o: { path?: string; headers?: readonly string[]; body?: string; onChunk?: (c: Controller, chunk: Buffer) => void; onStart?: (c: Controller) => void } = {}): Promise<Seen> {
  return new Promise((resolve) => {
    const seen: Seen = { code: 0, headers: [], body: "", chunks: 0, error: undefined, ended: false };
    const h: Handler = {
      onRequestStart: (c) => o.onStart?.(c),
      onResponseStart: (_c, code, headers) => void ((seen.code = code), (seen.headers = headers)),
      onResponseData: (c, chunk) => {
        seen.chunks++;
        seen.body += chunk.toString();
        o.onChunk?.(c, chunk);
      },
      onResponseEnd: () => resolve({ ...seen, ended: true }),
      onResponseError: (_c, err) => resolve({ ...seen, error: err }),
    };
    pool.dispatch({ method: "POST", path: o.path ?? "/v1/chat/completions", headers: o.headers ?? Object.freeze(["content-type", "application/json"]), body: Buffer.from(o.body ?? '{"x":1}') }, h);
  });
}

/** A TCP server on loopback that writes whatever `onConn` says: for answers no well-behaved HTTP server gives. */
async function rawServer(onConn: (s: Socket, request: string) => void): Promise<{ port: number; server: Server; conns: number } & AsyncDisposable> {
  const sockets = new Set<Socket>();
  const state = { conns: 0 };
  const server = createNetServer((s) => {
    state.conns++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end === -1) return;
      const len = Number(/content-length: (\d+)/i.exec(buf)?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      const req = buf.slice(0, end + 4 + len);
      buf = buf.slice(end + 4 + len);
      onConn(s, req);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return Object.assign(state, {
    port: (server.address() as AddressInfo).port,
    server,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}

const pools: Http1Pool[] = [];
function pool(url: string, connections = 100): Http1Pool {
  const p = new Http1Pool(url, { connections, keepAliveTimeoutMs: 30_000, connectTimeoutMs: 5000 });
  pools.push(p);
  return p;
}

describe("load: the builtin engine's HTTP/1.1 client against real servers", function () {
  this.timeout(30_000);
  afterEach(() => {
    for (const p of pools.splice(0)) p.close();
  });

  it("sends the request as written (method, path, host, length, headers, body) and reads status, headers and body", async () => {
    let got: { method?: string; url?: string; host?: string; length?: string; type?: string; extra?: string; body: string } = { body: "" };
    await using server = await startHttpServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        got = { method: req.method, url: req.url, host: req.headers.host, length: req.headers["content-length"], type: req.headers["content-type"], extra: req.headers["x-faultline-session"] as string, body };
        res.setHeader("x-faultline-region", "us-east");
        res.setHeader("X-Faultline-Version", "v2");
        res.statusCode = 201;
        res.end('{"ok":true}');
      });
    });
    const seen = await request(pool(server.url), { path: "/v1/x?y=1", headers: ["content-type", "application/json", "x-faultline-session", "s-1"], body: '{"hello":"wörld"}' });
    expect(got).to.deep.equal({ method: "POST", url: "/v1/x?y=1", host: `127.0.0.1:${server.port}`, length: String(Buffer.byteLength('{"hello":"wörld"}')), type: "application/json", extra: "s-1", body: '{"hello":"wörld"}' });
    expect(seen.code).to.equal(201);
    expect(headerValue(seen.headers, "x-faultline-region")).to.equal("us-east");
    expect(headerValue(seen.headers, "x-faultline-version")).to.equal("v2"); // sent as X-Faultline-Version
    expect(seen.body).to.equal('{"ok":true}');
    expect(seen.ended).to.equal(true);
    expect(seen.error).to.equal(undefined);
  });

  it("reads a header in any case, its first value when repeated, and nothing for a name it was not sent under", async () => {
    await using server = await rawServer((s) => s.write("HTTP/1.1 200 OK\r\nx-faultline-regions: no\r\nX-FAULTLINE-REGION: eu-west\r\nx-faultline-region: us-east\r\ncontent-length: 2\r\n\r\n{}"));
    const seen = await request(pool(`http://127.0.0.1:${server.port}`));
    expect(headerValue(seen.headers, "x-faultline-region")).to.equal("eu-west"); // not the longer name before it
    expect(headerValue(seen.headers, "x-faultline-regions")).to.equal("no");
    expect(headerValue(seen.headers, "x-faultline-regio")).to.equal(undefined);
    expect(headerValue(seen.headers, "x-faultline-version")).to.equal(undefined);
    expect(headerValue(seen.headers, "content-length")).to.equal("2");
  });

  it("keeps connections alive: 200 requests one after another open one connection; 50 at once open 50", async () => {
    await using server = await rawServer((s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"));
    const p = pool(`http://127.0.0.1:${server.port}`);
    for (let i = 0; i < 200; i++) expect((await request(p)).code).to.equal(200);
    expect(server.conns).to.equal(1);
    expect(p.opened).to.equal(1);
    const all = await Promise.all(Array.from({ length: 50 }, () => request(p)));
    expect(all.every((x) => x.code === 200 && x.ended)).to.equal(true);
    expect(p.opened).to.equal(50);
  });

  it("reads a chunked stream event by event as it arrives, and a body that ends only when the server closes", async () => {
    await using sse = await startHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/event-stream" });
      let n = 0;
      const t = setInterval(() => {
        if (++n <= 5) return void res.write(`data: {"n":${n}}\n\n`);
        clearInterval(t);
        res.end("data: [DONE]\n\n");
      }, 20);
    });
    const s = await request(pool(sse.url));
    expect(s.code).to.equal(200);
    expect(s.chunks).to.equal(6);
    expect(s.body).to.equal([1, 2, 3, 4, 5].map((n) => `data: {"n":${n}}\n\n`).join("") + "data: [DONE]\n\n");
    await using raw = await rawServer((sock) => sock.end("HTTP/1.0 200 OK\r\n\r\nuntil the end"));
    const r = await request(pool(`http://127.0.0.1:${raw.port}`));
    expect(r).to.include({ code: 200, body: "until the end", ended: true });
  });

  it("an interim answer (103 Early Hints) is skipped: the request ends with the final one", async () => {
    await using server = await rawServer((s) => s.write("HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\nHTTP/1.1 200 OK\r\nx-faultline-region: us-west\r\ncontent-length: 2\r\n\r\n{}"));
    const p = pool(`http://127.0.0.1:${server.port}`);
    for (let i = 0; i < 2; i++) expect(await request(p)).to.include({ code: 200, body: "{}", ended: true });
    expect(p.opened).to.equal(1);
  });

  it("a server's `connection: close` is honoured: the next request opens a new connection", async () => {
    await using server = await rawServer((s) => s.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbusy"));
    const p = pool(`http://127.0.0.1:${server.port}`);
    for (let i = 0; i < 3; i++) expect(await request(p)).to.include({ code: 503, body: "busy", ended: true });
    expect(server.conns).to.equal(3);
  });

  it("an idle connection the server closed is not reused: the next request succeeds on a new one", async () => {
    // keep-alive for 100 ms, as a proxy's idle timeout
    await using server = await rawServer((s) => {
      s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
      s.setTimeout(100, () => s.end());
    });
    const p = pool(`http://127.0.0.1:${server.port}`);
    expect((await request(p)).code).to.equal(200);
    await new Promise((r) => setTimeout(r, 300));
    const s = await request(p);
    expect(s).to.include({ code: 200, ended: true });
    expect(server.conns).to.equal(2);
  });

  it("connection errors end the request with their code: refused, reset before the headers, cut mid-body, not HTTP", async () => {
    const refused = await request(pool(`http://127.0.0.1:${await freePort()}`));
    expect(refused.error?.code).to.equal("ECONNREFUSED");
    await using reset = await rawServer((s) => s.destroy());
    expect((await request(pool(`http://127.0.0.1:${reset.port}`))).error).to.not.equal(undefined);
    await using cut = await rawServer((s) => s.end("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part"));
    const c = await request(pool(`http://127.0.0.1:${cut.port}`));
    expect(c).to.include({ code: 200, body: "only part", ended: false });
    expect(c.error?.message).to.match(/closed the connection before the response ended/);
    await using junk = await rawServer((s) => s.write("SSH-2.0-OpenSSH_9.6\r\n\r\n"));
    expect((await request(pool(`http://127.0.0.1:${junk.port}`))).error?.code).to.equal("HPE_INVALID");
  });

  it("a request cut by its caller (a deadline, a cancelled stream) closes its connection at once and ends with the caller's error; cutting it later does nothing to the next request", async () => {
    await using server = await rawServer((s) => s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\ndata: 1\r\n")); // and never more
    const p = pool(`http://127.0.0.1:${server.port}`);
    let ctl: Controller | undefined;
    const cut = await request(p, { onChunk: (c) => c.abort(new Error("cancelled by the client")) });
    expect(cut).to.include({ code: 200, body: "data: 1", ended: false });
    expect(cut.error?.message).to.equal("cancelled by the client");
    const t0 = performance.now();
    const hung = request(p, { onStart: (c) => (ctl = c) });
    setTimeout(() => ctl?.abort(Object.assign(new Error("timeout"), { code: "TIMEOUT" })), 200);
    const late = await hung;
    expect(late.error?.message).to.equal("timeout");
    expect(performance.now() - t0).to.be.below(2000);
    expect(server.conns).to.equal(2);
    // a stale controller: the request it held is over, and its connection carries another now
    await using ok = await rawServer((s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"));
    const q = pool(`http://127.0.0.1:${ok.port}`);
    let first: Controller | undefined;
    await request(q, { onStart: (c) => (first = c) });
    const second = request(q, { onStart: () => first?.abort(new Error("stale")) });
    expect(await second).to.include({ code: 200, ended: true });
    expect(q.opened).to.equal(1);
  });

  it("speaks https: a server whose certificate the process trusts (NODE_EXTRA_CA_CERTS) answers on one kept-alive connection; one it does not trust is a connection error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-tls-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
      let conns = 0;
      const server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (req, res) => {
        req.resume();
        req.on("end", () => res.setHeader("x-faultline-region", "us-east").end('{"tls":true}'));
      });
      server.on("secureConnection", () => conns++);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // the trust store is read when a process starts: each case runs in a process of its own
      const client = async (env: NodeJS.ProcessEnv): Promise<{ codes: number[]; regions: string[]; errors: string[] }> => {
        const src = `import { Http1Pool, headerValue } from ${JSON.stringify(join(ROOT, "lib/load/http1.ts"))};
const pool = new Http1Pool(${JSON.stringify(url)}, { connections: 10, keepAliveTimeoutMs: 30000, connectTimeoutMs: 5000 });
const out = { codes: [], regions: [], errors: [] };
for (let i = 0; i < 3; i++) await new Promise((done) => pool.dispatch({ method: "POST", path: "/", headers: [], body: Buffer.from("{}") }, {
  onRequestStart() {}, onResponseStart(_c, code, h) { out.codes.push(code); out.regions.push(headerValue(h, "x-faultline-region")); }, onResponseData() {},
  onResponseEnd: done, onResponseError(_c, e) { out.errors.push(e.code ?? e.message); done(); } }));
pool.close(); console.log(JSON.stringify(out));`;
        const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", src], { env: { ...process.env, ...env }, timeout: 20_000 });
        return JSON.parse(stdout) as { codes: number[]; regions: string[]; errors: string[] };
      };
      const trusted = await client({ NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") });
      expect(trusted).to.deep.equal({ codes: [200, 200, 200], regions: ["us-east", "us-east", "us-east"], errors: [] });
      expect(conns).to.equal(1);
      const untrusted = await client({ NODE_EXTRA_CA_CERTS: "" });
      expect(untrusted.codes).to.deep.equal([]);
      expect(untrusted.errors).to.deep.equal(["DEPTH_ZERO_SELF_SIGNED_CERT", "DEPTH_ZERO_SELF_SIGNED_CERT", "DEPTH_ZERO_SELF_SIGNED_CERT"]);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never more connections than its limit: a request past it fails at once; close() ends the requests still out", async () => {
    await using server = await rawServer(() => undefined); // answers nothing
    const p = pool(`http://127.0.0.1:${server.port}`, 2);
    const a = request(p);
    const b = request(p);
    const c = await request(p);
    expect(c.error?.code).to.equal("POOL_FULL");
    p.close();
    const [ea, eb] = await Promise.all([a, b]);
    expect(ea.error?.code).to.equal("CLIENT_CLOSED");
    expect(eb.error?.code).to.equal("CLIENT_CLOSED");
    expect((await request(p)).error?.code).to.equal("CLIENT_CLOSED");
  });
});
