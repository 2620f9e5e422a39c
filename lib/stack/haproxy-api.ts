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
}

/** HAProxy's `show stat` CSV for the servers of one backend: one parser for every reader. */
export function parseStats(csv: string, backend: string): ServerStat[] {
  const lines = csv.split("\n");
  const header = (lines[0] ?? "").replace(/^# /, "").split(",");
  const col = (name: string): number => header.indexOf(name);
  const [pxI, svI, stI, h5I, econI, erespI, bckI] = [col("pxname"), col("svname"), col("status"), col("hrsp_5xx"), col("econ"), col("eresp"), col("bck")];
  const responses = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"].map(col);
  const out: ServerStat[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(",");
    const name = f[svI];
    if (f[pxI] !== backend || name === undefined || name === "BACKEND" || name === "FRONTEND") continue;
    const n = (i: number): number => Number(f[i] ?? 0) || 0;
    out.push({ name, status: (f[stI] ?? "").split(" ")[0] ?? "", total: responses.reduce((s, i) => s + n(i), 0) + n(econI), failed: n(h5I) + n(econI) + n(erespI), ...(bckI >= 0 && n(bckI) > 0 ? { backup: true } : {}) });
  }
  return out;
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

  async stats(backend: string): Promise<ServerStat[]> {
    return parseStats(await this.command("show stat"), backend);
  }

  async setWeight(backend: string, server: string, weight: number): Promise<void> {
    await this.command(`set weight ${backend}/${server} ${weight}`);
  }

  async setState(backend: string, server: string, state: "ready" | "maint" | "drain"): Promise<void> {
    await this.command(`set server ${backend}/${server} state ${state}`);
  }
}
