import { connect } from "node:net";
import { Toxiproxy } from "toxiproxy-node-client";
import type { ICreateToxicBody, Proxy, ToxicType } from "toxiproxy-node-client";
import { DriverError } from "../errors.ts";

const CALL_TIMEOUT_MS = 5_000;

async function withTimeout<T>(what: string, api: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DriverError("toxiproxy", `${what} at ${api} did not answer within ${CALL_TIMEOUT_MS}ms`)),
      CALL_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (cause) {
    if (cause instanceof DriverError) throw cause;
    const detail = cause instanceof Error && cause.message === "fetch failed" ? `fetch failed (${await diagnose(api)})` : describeCause(cause);
    throw new DriverError("toxiproxy", `${what} at ${api} failed: ${detail}`, { cause });
  } finally {
    clearTimeout(timer);
  }
}

function describeCause(err: unknown): string {
  // the client's HTTP errors carry Toxiproxy's own reason ({"error": "...", "status": 500}) in the response
  const said = (err as { response?: { data?: { error?: unknown } } } | undefined)?.response?.data?.error;
  const base = err instanceof Error ? err.message : String(err);
  return typeof said === "string" ? `${base}: ${said}` : base;
}

/** The client drops fetch's socket error; a plain TCP connect tells why the API cannot be reached. */
function diagnose(api: string): Promise<string> {
  const { hostname, port } = new URL(api);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 80), timeout: 1000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve("the port accepts connections, but the HTTP exchange failed");
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve("no TCP answer within 1000ms");
    });
    socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED" ? `ECONNREFUSED: nothing listens on ${hostname}:${port}` : `${e.code ?? e.message}`));
  });
}

export function isNotFound(err: unknown): boolean {
  return err instanceof Error && /status code 404/.test(err.message + String((err as { cause?: unknown }).cause ?? ""));
}

export interface ToxicInfo {
  name: string;
  type: ToxicType;
  stream: "upstream" | "downstream";
  toxicity: number;
  attributes: Record<string, number>;
}

export interface ToxicSpec {
  name: string;
  type: ToxicType;
  stream: "upstream" | "downstream";
  toxicity: number;
  attributes: Record<string, number>;
}

/** The Toxiproxy calls faultline makes, each bounded in time and reported with the API address. */
export class ToxiproxyApi {
  readonly url: string;
  private readonly client: Toxiproxy;

  constructor(url: string) {
    this.url = url.replace(/\/+$/, "");
    this.client = new Toxiproxy(this.url);
  }

  version(): Promise<string> {
    return withTimeout("GET /version", this.url, this.client.getVersion());
  }

  proxy(name: string): Promise<Proxy> {
    return withTimeout(`GET /proxies/${name}`, this.url, this.client.get(name));
  }

  async proxies(): Promise<Proxy[]> {
    return Object.values(await withTimeout("GET /proxies", this.url, this.client.getAll()));
  }

  async ensureProxy(name: string, listen: string, upstream: string): Promise<void> {
    try {
      await this.proxy(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await withTimeout(`POST /proxies (${name})`, this.url, this.client.createProxy({ name, listen, upstream, enabled: true }));
    }
  }

  /** Points a proxy at another upstream (its toxics stay; Toxiproxy restarts the listener, dropping open connections). */
  async setUpstream(name: string, upstream: string): Promise<void> {
    const proxy = await this.proxy(name);
    if (proxy.upstream === upstream) return;
    await withTimeout(`POST /proxies/${name}`, this.url, proxy.update({ listen: proxy.listen, upstream, enabled: true }));
  }

  async addToxic(proxyName: string, spec: ToxicSpec): Promise<void> {
    const proxy = await this.proxy(proxyName);
    const body: ICreateToxicBody<Record<string, number>> = { ...spec };
    await withTimeout(`POST /proxies/${proxyName}/toxics (${spec.name})`, this.url, proxy.addToxic(body));
  }

  /** Removes a toxic; one that is already gone (or whose proxy is gone) counts as removed. */
  async removeToxic(proxyName: string, toxicName: string): Promise<void> {
    try {
      const proxy = await this.proxy(proxyName);
      const toxic = await withTimeout(`GET toxic ${toxicName}`, this.url, proxy.getToxic(toxicName));
      await withTimeout(`DELETE /proxies/${proxyName}/toxics/${toxicName}`, this.url, toxic.remove());
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  /** The client's Proxy object does not carry its toxics, so they are listed through its HTTP client. */
  async toxics(proxyName: string): Promise<ToxicInfo[]> {
    const url = `${this.url}/proxies/${encodeURIComponent(proxyName)}/toxics`;
    const res = await withTimeout(`GET /proxies/${proxyName}/toxics`, this.url, this.client.getApi().get<ToxicInfo[]>(url));
    return res.data ?? [];
  }

  async hasToxic(proxyName: string, toxicName: string): Promise<boolean> {
    return (await this.toxics(proxyName)).some((t) => t.name === toxicName);
  }

  /** Every toxic whose name starts with `prefix`, across all proxies: found without any journal. */
  async findToxics(prefix: string): Promise<{ proxy: string; toxic: string }[]> {
    const out: { proxy: string; toxic: string }[] = [];
    for (const proxy of await this.proxies()) {
      for (const t of await this.toxics(proxy.name)) if (t.name.startsWith(prefix)) out.push({ proxy: proxy.name, toxic: t.name });
    }
    return out;
  }
}
