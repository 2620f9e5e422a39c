import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { retryUntil } from "../../lib/clock.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface StartedHttp extends AsyncDisposable {
  url: string;
  port: number;
  requests: number;
  server: Server;
}

/** A real HTTP server on loopback that answers 200 with a small JSON body. */
export async function startHttpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end('{"ok":true}');
  },
): Promise<StartedHttp> {
  const started = { requests: 0 } as StartedHttp;
  const server = createServer((req, res) => {
    started.requests++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(started, {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}

export interface StartedToxiproxy extends AsyncDisposable {
  api: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A real toxiproxy-server (tools/bin, pinned) on a free loopback port, stopped on dispose. */
export async function startToxiproxy(): Promise<StartedToxiproxy> {
  const port = await freePort();
  const child = spawn(`${ROOT}tools/bin/toxiproxy-server`, ["-host", "127.0.0.1", "-port", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const api = `http://127.0.0.1:${port}`;
  await retryUntil(
    async () => (await fetch(`${api}/version`)).ok,
    (ok) => ok,
    ({ elapsedMs }) => new Error(`toxiproxy-server ${api}/version not answering after ${elapsedMs}ms: ${stderr.slice(-500)}`),
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGKILL");
    await exited;
  };
  return { api, port, process: child, stop, [Symbol.asyncDispose]: stop };
}
