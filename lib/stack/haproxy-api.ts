import { connect } from "node:net";

/** One gateway server as `show stat` reports it. */
export interface ServerStat {
  name: string;
  /** UP, DOWN, MAINT, NOLB, … (the first word of HAProxy's status) */
  status: string;
  /** responses and connection failures so far (monotonic counters) */
  total: number;
  /** 5xx, connection errors and response errors so far */
  failed: number;
  /** a `backup` server (a standby region's): it takes traffic only when no other server is up */
  backup?: boolean;
  /** connections open now, and the server's limit (0: none) */
  sessions?: number;
  maxconn?: number;
}

/** One backend as `show stat` reports it: its servers, and the requests waiting in its own queue (not a server's). */
export interface BackendStat {
  servers: ServerStat[];
  queued: number;
}

/** HAProxy's `show stat` CSV for the servers of one backend: one parser for every reader. */
export function parseStats(csv: string, backend: string): ServerStat[] {
  return parseBackend(csv, backend).servers;
}

/** The servers of one backend and its own queue, from `show stat`. */
export function parseBackend(csv: string, backend: string): BackendStat {
  const lines = csv.split("\n");
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const col = (name: string): number => header.indexOf(name);
  const [pxI = -1, svI = -1, stI = -1, h5I = -1, econI = -1, erespI = -1, bckI = -1, scurI = -1, slimI = -1, qcurI = -1] = ["pxname", "svname", "status", "hrsp_5xx", "econ", "eresp", "bck", "scur", "slim", "qcur"].map(col);
  const responses = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"].map(col);
  const out: BackendStat = { servers: [], queued: 0 };
  for (const line of lines.slice(1)) {
    const f = line.split(",");
    const name = f[svI];
    const n = (i: number): number => Number(f[i] ?? 0) || 0;
    if (f[pxI] !== backend || name === undefined || name === "FRONTEND") continue;
    if (name === "BACKEND") {
      out.queued = n(qcurI);
      continue;
    }
    out.servers.push({
      name,
      status: (f[stI] ?? "").split(" ")[0] ?? "",
      total: responses.reduce((s, i) => s + n(i), 0) + n(econI),
      failed: n(h5I) + n(econI) + n(erespI),
      ...(bckI >= 0 && n(bckI) > 0 ? { backup: true } : {}),
      ...(scurI >= 0 ? { sessions: n(scurI), maxconn: n(slimI) } : {}),
    });
  }
  return out;
}

/**
 * `show activity`'s `cpust_ms_tot`: milliseconds HAProxy's threads were kept off a CPU while they had
 * work (between two polls, the wall clock ran on more than half a millisecond past the thread's own
 * CPU clock): the gateway's own count of what the host took from it. Undefined when the line is absent.
 */
export function parseStolenMs(activity: string): number | undefined {
  const m = /^cpust_ms_tot:\s*(\d+)/m.exec(activity);
  return m === null ? undefined : Number(m[1]);
}

/** HAProxy's runtime API over its stats socket. */
export class HaproxyApi {
  private readonly socket: string;

  constructor(socket: string) {
    this.socket = socket;
  }

  command(cmd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = connect({ path: this.socket });
      let out = "";
      sock.setTimeout(2000, () => sock.destroy(new Error(`haproxy socket: no answer to "${cmd}"`)));
      sock.on("data", (d: Buffer) => (out += d.toString()));
      sock.on("end", () => resolve(out));
      sock.on("error", reject);
      sock.end(`${cmd}\n`);
    });
  }

  async stolenMs(): Promise<number | undefined> {
    return parseStolenMs(await this.command("show activity"));
  }

  async stats(backend: string): Promise<ServerStat[]> {
    return parseStats(await this.command("show stat"), backend);
  }

  async backend(backend: string): Promise<BackendStat> {
    return parseBackend(await this.command("show stat"), backend);
  }

  /** Sets a server's connection limit; HAProxy then hands it queued requests up to the limit. */
  async setMaxconn(backend: string, server: string, maxconn: number): Promise<void> {
    await this.command(`set maxconn server ${backend}/${server} ${maxconn}`);
  }

  async setWeight(backend: string, server: string, weight: number): Promise<void> {
    await this.command(`set weight ${backend}/${server} ${weight}`);
  }

  /** A process-wide variable the configuration reads (HAProxy 2.6 sets them only in experimental mode). */
  async setIntVar(name: `proc.${string}`, value: number): Promise<void> {
    await this.command(`experimental-mode on; set var ${name} int(${Math.round(value)})`);
  }

  async setState(backend: string, server: string, state: "ready" | "maint" | "drain"): Promise<void> {
    await this.command(`set server ${backend}/${server} state ${state}`);
  }
}
