import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { lookup } from "node:dns/promises";
import { connect, isIP } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Counter, Gauge, Registry } from "prom-client";
import { readBody, sendJson as json } from "./http.ts";
import { stringify } from "yaml";
import { retryUntil } from "../clock.ts";
import { FaultlineError, errorMessage } from "../errors.ts";
import { ToxiproxyApi } from "../clients/toxiproxy.ts";
import { Child } from "../proc/child.ts";
import type { StackConfig } from "./config.ts";
import { haproxyConfig, statsSocketPath } from "./haproxy.ts";
import { POD_TARGETS_FILE, alertRules, alertmanagerConfig, prometheusConfig } from "./monitoring.ts";
import type { PodDiscovery } from "./monitoring.ts";
import { reservePorts } from "../proc/ports.ts";
import { OOM_EXIT_CODE } from "./replica.ts";
import type { ReadyEndpoint, EndpointFollower } from "../clients/endpoint-slices.ts";
import { RolloutController } from "./rollout.ts";
import { assignPorts, portsNeeded } from "./topology.ts";
import type { Ports, ReplicaSlot } from "./topology.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface StackState {
  version: 1;
  dir: string;
  pid: number;
  startedAt: number;
  ready: boolean;
  error?: string;
  endpoints: Record<keyof Ports, string>;
  replicas: { name: string; region: string; zone: string; url: string; proxy: string; proxyListen: string; healthProxy: string }[];
  processes: { name: string; pid: number | undefined; state: string; restarts: number }[];
  targetFile: string;
  config: StackConfig;
}

/**
 * Where the stack runs. By default every part is a process on loopback. Inside a container (the
 * testcontainers target) the servers bind every address so that published ports and the other
 * containers reach them, Toxiproxy runs in its own container, and the ports were picked by the
 * host (free there), so that each is published under the same number.
 */
export interface Placement {
  bindHost: string;
  /** how Toxiproxy reaches this stack's replicas */
  selfHost: string;
  /** a Toxiproxy that runs elsewhere: its API as seen from here, and the host the gateway dials for its proxies */
  toxiproxy?: { api: string; host: string };
  /** the ports to take, as `assignPorts` hands them out */
  ports?: number[];
  /** the replicas are Kubernetes pods: the gateway follows their EndpointSlices (see KubernetesReplicas) */
  kubernetes?: KubernetesReplicas;
}

/**
 * The gateway, Toxiproxy, Prometheus and Alertmanager of the stack in front of a cluster's pods.
 * Each region's replicas are the ready endpoints of its Service (`<servicePrefix><region>`); the
 * gateway has twice as many slots per region as the config has replicas (room for a rollout's
 * surge and rescheduled pods), each slot a Toxiproxy proxy pair whose upstream is set to the pod
 * that holds the slot, and a gateway server that is in maintenance while the slot is free.
 */
export interface KubernetesReplicas extends PodDiscovery {
  context?: string;
}

/** Slots per configured replica on the kubernetes placement. */
export const SLOTS_PER_REPLICA = 2;

/** The config whose replica count is the gateway's slots: on kubernetes, SLOTS_PER_REPLICA per replica. */
export function slotConfig(c: StackConfig, p: Placement): StackConfig {
  return p.kubernetes === undefined ? c : { ...c, regions: c.regions.map((r) => ({ ...r, replicas: r.replicas * SLOTS_PER_REPLICA })) };
}

export const LOOPBACK: Placement = { bindHost: "127.0.0.1", selfHost: "127.0.0.1" };

function tool(name: string): string {
  return join(ROOT, "tools/bin", name);
}

/**
 * The line of a dead process's log that says why (HAProxy's first [ALERT], a panic, an error), not
 * the whole tail joined into one line; shortened, with where the whole log is.
 */
export function whyItDied(logFile: string | undefined): string {
  let lines: string[];
  try {
    lines = readFileSync(logFile ?? "", "utf8").trim().split("\n").filter((l) => l.trim() !== "");
  } catch {
    return "(no log)";
  }
  const line = lines.find((l) => /\[ALERT\]|\bpanic\b|\bfatal\b|\berror\b/i.test(l)) ?? lines.at(-1) ?? "(empty log)";
  const short = line.length > 300 ? `${line.slice(0, 300)}…` : line;
  return `${short.trim()} (whole log: ${logFile})`;
}

/** Runs every process of the reference stack and keeps them running until stopped. */
export class Supervisor {
  readonly c: StackConfig;
  readonly dir: string;
  /** HAProxy's stats socket, in a short runtime folder (see statsSocketPath) */
  private readonly socket: string;
  private ports!: Ports;
  private slots: ReplicaSlot[] = [];
  private readonly children = new Map<string, Child>();
  private replicaChildren = new Map<string, Child>();
  private control: Server | undefined;
  private rollout: RolloutController | undefined;
  private outlierTimer: NodeJS.Timeout | undefined;
  private readonly registry = new Registry();
  private readonly metrics;
  private readonly ejected = new Map<string, NodeJS.Timeout>();
  private startedAt = Date.now();
  private stopping = false;
  private tp: ToxiproxyApi | undefined;
  /** the address Toxiproxy dials this stack by, resolved once at start (a free slot's proxies point here) */
  private self = "127.0.0.1";
  private follower: EndpointFollower | undefined;
  /** kubernetes placement: slot name → the pod endpoint holding it */
  private readonly held = new Map<string, ReadyEndpoint>();
  private syncing: Promise<void> = Promise.resolve();

  readonly placement: Placement;

  constructor(c: StackConfig, dir: string, placement: Placement = LOOPBACK) {
    this.c = c;
    this.dir = dir;
    this.socket = statsSocketPath(dir);
    this.placement = placement;
    const r = [this.registry];
    this.metrics = {
      up: new Gauge({ name: "stack_replica_up", help: "1 while the replica process runs", labelNames: ["replica", "region", "zone"], registers: r }),
      restarts: new Counter({ name: "stack_replica_restarts_total", help: "Replica process exits, by reason", labelNames: ["replica", "region", "reason"], registers: r }),
      ooms: new Counter({ name: "stack_replica_oom_kills_total", help: "Replica processes that died of GPU OOM", labelNames: ["replica", "region"], registers: r }),
      ejections: new Counter({ name: "stack_outlier_ejections_total", help: "Servers ejected for a failure rate above the limit", labelNames: ["server"], registers: r }),
    };
  }

  private path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  async start(): Promise<StackState> {
    mkdirSync(this.path("logs"), { recursive: true });
    mkdirSync(this.path("prometheus"), { recursive: true });
    mkdirSync(this.path("alertmanager"), { recursive: true });
    const where = this.placement;
    const slotted = slotConfig(this.c, where);
    ({ ports: this.ports, slots: this.slots } = assignPorts(slotted, where.ports ?? (await reservePorts(portsNeeded(slotted)))));
    for (const s of where.kubernetes ? [] : this.slots) {
      this.metrics.ooms.inc({ replica: s.name, region: s.region }, 0);
      this.metrics.up.set({ replica: s.name, region: s.region, zone: s.zone }, 0);
    }

    await this.startControl();
    this.writeState(false);

    // Toxiproxy first: every path into a region goes through it.
    const toxiproxy = where.toxiproxy ? undefined : this.spawn("toxiproxy", tool("toxiproxy-server"), ["-host", "127.0.0.1", "-port", String(this.ports.toxiproxy)]);
    const tp = new ToxiproxyApi(where.toxiproxy?.api ?? `http://127.0.0.1:${this.ports.toxiproxy}`);
    await this.waitFor("toxiproxy", () => tp.version().then(() => true), toxiproxy);
    // An external Toxiproxy listens on every address of its container; the gateway dials it by name.
    const listen = where.toxiproxy ? "0.0.0.0" : "127.0.0.1";
    // By address, not name: Toxiproxy would ask Docker's DNS again for every connection it opens.
    const self = isIP(where.selfHost) ? where.selfHost : (await lookup(where.selfHost)).address;
    this.self = self;
    // A kubernetes slot's proxies point at its own reserved port (nothing listens there) until a pod takes the slot.
    for (const s of this.slots) {
      await tp.ensureProxy(s.proxyName, `${listen}:${s.proxyPort}`, `${self}:${s.port}`);
      await tp.ensureProxy(s.healthProxyName, `${listen}:${s.healthProxyPort}`, `${self}:${s.port}`);
    }
    this.tp = tp;

    const http = (port: number, path: string): (() => Promise<boolean>) => async () => (await fetch(`http://127.0.0.1:${port}${path}`)).ok;
    if (where.kubernetes === undefined) {
      for (const s of this.slots) this.startReplica(s);
      // Replicas ready before the gateway's first checks: servers start DOWN and would wait `rise` checks.
      await Promise.all(this.slots.map((s) => this.waitFor(`replica ${s.name}`, http(s.port, "/readyz"))));
    }

    const lua = join(HERE, "gateway-latency.lua");
    const gatewayHosts = { bind: where.bindHost, toxiproxy: where.toxiproxy?.host ?? "127.0.0.1", disabled: where.kubernetes !== undefined };
    writeFileSync(this.path("haproxy.cfg"), haproxyConfig(slotted, this.ports, this.slots, this.socket, lua, gatewayHosts));
    const haproxy = this.spawn("haproxy", "haproxy", ["-f", this.path("haproxy.cfg"), "-db"]);

    writeFileSync(this.path("alertmanager.yml"), alertmanagerConfig(this.c));
    const alertmanager = this.spawn("alertmanager", "prometheus-alertmanager", [
      `--config.file=${this.path("alertmanager.yml")}`,
      `--storage.path=${this.path("alertmanager")}`,
      `--web.listen-address=${where.bindHost}:${this.ports.alertmanager}`,
      "--cluster.listen-address=",
    ]);

    writeFileSync(this.path("rules.yml"), stringify(alertRules(this.c)));
    if (where.kubernetes !== undefined) this.writePodTargets();
    writeFileSync(this.path("prometheus.yml"), prometheusConfig(this.c, this.ports, this.slots, this.path("rules.yml"), where.kubernetes));
    const prometheus = this.spawn("prometheus", "prometheus", [
      `--config.file=${this.path("prometheus.yml")}`,
      `--storage.tsdb.path=${this.path("prometheus")}`,
      `--web.listen-address=${where.bindHost}:${this.ports.prometheus}`,
      "--web.enable-lifecycle",
      "--storage.tsdb.retention.time=1d",
      "--log.level=warn",
    ]);

    // On kubernetes the cluster rolls out (a Deployment's own rollout); no canary controller runs here.
    if (where.kubernetes === undefined) {
      this.rollout = new RolloutController(
        this.c,
        this.slots.map((s) => ({ name: s.name, region: s.region, adminUrl: `http://127.0.0.1:${s.port}` })),
        `http://127.0.0.1:${this.ports.prometheus}`,
      );
      await this.rollout.listen(this.ports.rollout, where.bindHost);
    }

    await this.waitFor("haproxy", http(this.ports.gatewayMetrics, "/healthz"), haproxy);
    if (where.kubernetes !== undefined) await this.followEndpoints(where.kubernetes, haproxy);
    await this.waitFor("gateway (a replica answers through haproxy and toxiproxy)", http(this.ports.gateway, "/readyz"), haproxy);
    // Replicas load while HAProxy's first checks run: ready means every server is UP, else the split is off.
    await this.waitFor("every gateway server UP", async () => [...(await this.serverStates()).values()].every((st) => st === "UP" || st === "MAINT"), haproxy);
    await this.waitFor("alertmanager", http(this.ports.alertmanager, "/-/ready"), alertmanager);
    await this.waitFor("prometheus", http(this.ports.prometheus, "/-/ready"), prometheus);
    this.outlierTimer = setInterval(() => void this.outlierPass().catch(() => undefined), 500);
    this.writeTarget();
    return this.writeState(true);
  }

  private spawn(name: string, command: string, args: string[], restart?: Child["o"]["restart"], env?: Record<string, string>, onExit?: Child["o"]["onExit"]): Child {
    const child = new Child({ name, command, args, logFile: this.path("logs", `${name}.log`), ...(restart ? { restart } : {}), ...(env ? { env } : {}), ...(onExit ? { onExit } : {}) });
    this.children.set(name, child);
    child.start();
    return child;
  }

  private startReplica(s: ReplicaSlot): void {
    const labels = { replica: s.name, region: s.region, zone: s.zone };
    const env = { FAULTLINE_REPLICA: JSON.stringify({ name: s.name, region: s.region, zone: s.zone, host: this.placement.bindHost, port: s.port, replica: this.c.replica }) };
    const child = this.spawn(
      `replica-${s.name}`,
      process.execPath,
      [join(HERE, "replica-main.ts")],
      { baseMs: this.c.replica.restartBackoffMs, maxMs: this.c.replica.restartBackoffMaxMs },
      env,
      (code, signal) => {
        this.metrics.up.set(labels, 0);
        if (this.stopping) return;
        const reason = code === OOM_EXIT_CODE ? "oom" : signal !== null ? `signal-${signal}` : `exit-${code}`;
        this.metrics.restarts.inc({ replica: s.name, region: s.region, reason });
        if (code === OOM_EXIT_CODE) this.metrics.ooms.inc({ replica: s.name, region: s.region });
        this.writeState(true);
      },
    );
    this.replicaChildren.set(s.name, child);
    this.metrics.up.set(labels, 1);
  }

  /**
   * Kubernetes placement: follows the regions' EndpointSlices and gives each ready pod a slot (its
   * Toxiproxy pair pointed at the pod, its gateway server out of maintenance); a pod that is no longer
   * ready gives its slot back (server into maintenance first, so no request is sent to a stale address).
   * Returns once every region that should serve has at least one pod in a slot.
   */
  private async followEndpoints(k: KubernetesReplicas, haproxy: Child): Promise<void> {
    const { kube } = await import("../clients/kubernetes.ts");
    const { EndpointFollower } = await import("../clients/endpoint-slices.ts");
    const services = this.c.regions.map((r) => `${k.servicePrefix}${r.name}`);
    this.follower = new EndpointFollower(kube(k.kubeconfig, k.context), k.namespace, services, (ready) => {
      this.syncing = this.syncing
        .then(() => this.syncSlots(k, ready))
        .catch((err: unknown) => void process.stderr.write(`slot sync failed: ${errorMessage(err)}\n`));
    });
    await this.follower.start((err) => process.stderr.write(`EndpointSlice watch: ${errorMessage(err)}\n`));
    const want = this.c.regions.filter((r) => r.replicas > 0).map((r) => r.name);
    await this.waitFor(`a ready pod in each region (${want.join(", ")})`, async () => want.every((r) => [...this.held.keys()].some((slot) => this.slots.find((x) => x.name === slot)?.region === r)), haproxy, 60_000);
  }

  private async syncSlots(k: KubernetesReplicas, ready: Map<string, ReadyEndpoint[]>): Promise<void> {
    if (this.stopping || this.tp === undefined) return;
    const tp = this.tp;
    const self = this.self;
    for (const r of this.c.regions) {
      const eps = ready.get(`${k.servicePrefix}${r.name}`) ?? [];
      const addr = (e: ReadyEndpoint): string => `${e.ip}:${e.port}`;
      const wanted = new Set(eps.map(addr));
      const slots = this.slots.filter((x) => x.region === r.name);
      for (const slot of slots) {
        const e = this.held.get(slot.name);
        if (e === undefined || wanted.has(addr(e))) continue;
        await this.haproxyCommand(`set server inference/${slot.name} state maint`);
        await tp.setUpstream(slot.proxyName, `${self}:${slot.port}`);
        await tp.setUpstream(slot.healthProxyName, `${self}:${slot.port}`);
        this.held.delete(slot.name);
        process.stderr.write(`${new Date().toISOString()} slot ${slot.name} freed (${e.pod} at ${addr(e)} no longer ready)\n`);
      }
      const holding = new Set([...this.held.values()].map(addr));
      for (const e of eps) {
        if (holding.has(addr(e))) continue;
        const slot = slots.find((x) => !this.held.has(x.name));
        if (slot === undefined) {
          process.stderr.write(`${new Date().toISOString()} no free gateway slot in ${r.name} for ${e.pod} (${slots.length} slots)\n`);
          break;
        }
        await tp.setUpstream(slot.proxyName, addr(e));
        await tp.setUpstream(slot.healthProxyName, addr(e));
        await this.haproxyCommand(`set server inference/${slot.name} state ready`);
        this.held.set(slot.name, e);
        process.stderr.write(`${new Date().toISOString()} slot ${slot.name} → ${e.pod} at ${addr(e)}\n`);
      }
    }
    this.writePodTargets();
  }

  /** The pods in the gateway's slots, for Prometheus's file discovery (written whole, then renamed). */
  private writePodTargets(): void {
    const targets = [...this.held].map(([slot, e]) => {
      const region = this.slots.find((x) => x.name === slot)?.region ?? "unknown";
      return { targets: [`${e.ip}:${e.port}`], labels: { replica: e.pod, slot, region, ...(e.zone ? { zone: e.zone } : {}) } };
    });
    writeFileSync(this.path(`${POD_TARGETS_FILE}.tmp`), JSON.stringify(targets, null, 1));
    renameSync(this.path(`${POD_TARGETS_FILE}.tmp`), this.path(POD_TARGETS_FILE));
  }

  /** Polls `check`; if the process behind it exits meanwhile, fails at once with the end of its log. */
  private async waitFor(what: string, check: () => Promise<boolean>, child?: Child, timeoutMs = 20_000): Promise<void> {
    const t0 = Date.now();
    const r = await retryUntil(
      async () => (child !== undefined && child.state === "stopped" && child.o.restart === undefined ? "dead" : (await check()) ? "ok" : "no"),
      (v) => v !== "no",
      ({ elapsedMs, error }) =>
        new FaultlineError("E_TIMEOUT", `${what} not ready after ${elapsedMs}ms${error ? `: ${errorMessage(error)}` : ""} (logs in ${this.path("logs")})`),
      { timeoutMs, intervalMs: 100 },
    );
    if (r === "dead") throw new FaultlineError("E_TOOL", `${what} exited while starting: ${whyItDied(child?.o.logFile)}`);
    process.stderr.write(`${new Date().toISOString()} ${what} ready (${Date.now() - t0}ms, ${Date.now() - this.startedAt}ms since start)\n`);
  }

  private haproxyCommand(cmd: string): Promise<string> {
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

  /** HAProxy's view of each inference server: UP, DOWN, MAINT, … */
  async serverStates(): Promise<Map<string, string>> {
    const lines = (await this.haproxyCommand("show stat")).split("\n");
    const header = (lines[0] ?? "").replace(/^# /, "").split(",");
    const [pxI, svI, stI] = [header.indexOf("pxname"), header.indexOf("svname"), header.indexOf("status")];
    const out = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const f = line.split(",");
      if (f[pxI] === "inference" && f[svI] !== "BACKEND" && f[svI] !== undefined) out.set(f[svI] as string, (f[stI] ?? "").split(" ")[0] as string);
    }
    return out;
  }

  private outlierHistory: { t: number; stats: Map<string, { total: number; failed: number }> }[] = [];

  /**
   * Passive outlier ejection (HAProxy has no rate-based one): a server whose failure rate over the
   * window exceeds the limit gets weight 0 for `ejectionMs`; at most half the active
   * servers are ejected at once.
   */
  private async outlierPass(): Promise<void> {
    const o = this.c.gateway.outlier;
    if (o.failureRatePct >= 100) return;
    const csv = await this.haproxyCommand("show stat");
    const lines = csv.split("\n");
    const header = (lines[0] ?? "").replace(/^# /, "").split(",");
    const col = (name: string): number => header.indexOf(name);
    const [pxI, svI, h5I, econI, erespI] = [col("pxname"), col("svname"), col("hrsp_5xx"), col("econ"), col("eresp")];
    const hI = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"].map(col);
    const stats = new Map<string, { total: number; failed: number }>();
    for (const line of lines.slice(1)) {
      const f = line.split(",");
      if (f[pxI] !== "inference" || f[svI] === "BACKEND" || f[svI] === undefined) continue;
      const n = (i: number): number => Number(f[i] ?? 0) || 0;
      const econ = n(econI);
      stats.set(f[svI] as string, { total: hI.reduce((s, i) => s + n(i), 0) + econ, failed: n(h5I) + econ + n(erespI) });
    }
    const now = Date.now();
    this.outlierHistory.push({ t: now, stats });
    while ((this.outlierHistory[0]?.t ?? now) < now - o.windowMs) this.outlierHistory.shift();
    const old = this.outlierHistory[0];
    if (old === undefined || old.t === now) return;
    const active = this.slots.filter((s) => !s.standby && (this.placement.kubernetes === undefined || this.held.has(s.name))).length;
    for (const [server, cur] of stats) {
      const prev = old.stats.get(server);
      if (prev === undefined || this.ejected.has(server)) continue;
      const total = cur.total - prev.total;
      const failed = cur.failed - prev.failed;
      if (total < o.minRequests || (failed / total) * 100 <= o.failureRatePct) continue;
      if (this.ejected.size + 1 > Math.floor(active / 2)) return;
      // Weight 0 stops new traffic without touching the health state: a dead server stays DOWN
      // after the ejection ends, a live one returns to its weight.
      const weight = this.slots.find((x) => x.name === server)?.weight ?? 1;
      await this.haproxyCommand(`set weight inference/${server} 0`);
      this.metrics.ejections.inc({ server });
      this.ejected.set(
        server,
        setTimeout(() => {
          this.ejected.delete(server);
          void this.haproxyCommand(`set weight inference/${server} ${weight}`).catch(() => undefined);
        }, o.ejectionMs),
      );
    }
  }

  private async startControl(): Promise<void> {
    this.control = createServer((req, res) => void this.route(req, res).catch((err: unknown) => json(res, 500, { error: errorMessage(err) })));
    await new Promise<void>((resolve, reject) => {
      this.control?.once("error", reject);
      this.control?.listen(this.ports.control, this.placement.bindHost, () => resolve());
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    if (url === "/metrics") {
      res.writeHead(200, { "content-type": this.registry.contentType });
      res.end(await this.registry.metrics());
      return;
    }
    if (url === "/healthz") return json(res, 200, { ok: true });
    if (url === "/state") return json(res, 200, this.state(true));
    const m = /^\/replicas\/([^/]+)\/(kill|start)$/.exec(url);
    if (m && req.method === "POST") {
      const child = this.replicaChildren.get(m[1] as string);
      if (child === undefined) return json(res, 404, { error: `no replica ${m[1]} (have: ${[...this.replicaChildren.keys()].join(", ")})` });
      const body = JSON.parse((await readBody(req)) || "{}") as { signal?: NodeJS.Signals; restart?: boolean };
      if (m[2] === "kill") child.kill(body.signal ?? "SIGKILL", body.restart === false);
      else {
        child.start();
        const s = this.slots.find((x) => x.name === m[1]);
        if (s) this.metrics.up.set({ replica: s.name, region: s.region, zone: s.zone }, 1);
      }
      return json(res, 200, { replica: m[1], state: child.state, held: child.held, pid: child.pid ?? null });
    }
    if (url === "/alerting/webhook" && req.method === "POST") {
      const body = JSON.parse((await readBody(req)) || "{}") as { url?: string };
      const cfg = { ...this.c, alerting: { ...this.c.alerting, ...(body.url ? { webhookUrl: body.url } : {}) } };
      if (!body.url) delete (cfg.alerting as { webhookUrl?: string }).webhookUrl;
      writeFileSync(this.path("alertmanager.yml"), alertmanagerConfig(cfg));
      const r = await fetch(`http://127.0.0.1:${this.ports.alertmanager}/-/reload`, { method: "POST" });
      return json(res, r.ok ? 200 : 502, { webhookUrl: body.url ?? null, reloaded: r.ok });
    }
    json(res, 404, { error: `no route ${req.method} ${url}` });
  }

  state(ready: boolean): StackState {
    const p = this.ports;
    const u = (port: number): string => `http://127.0.0.1:${port}`;
    return {
      version: 1,
      dir: this.dir,
      pid: process.pid,
      startedAt: this.startedAt,
      ready,
      endpoints: {
        gateway: u(p.gateway),
        gatewayMetrics: u(p.gatewayMetrics),
        toxiproxy: this.placement.toxiproxy?.api ?? u(p.toxiproxy),
        prometheus: u(p.prometheus),
        alertmanager: u(p.alertmanager),
        control: u(p.control),
        rollout: u(p.rollout),
      },
      replicas: this.slots.map((s) => ({ name: s.name, region: s.region, zone: s.zone, url: u(s.port), proxy: s.proxyName, proxyListen: `127.0.0.1:${s.proxyPort}`, healthProxy: s.healthProxyName })),
      processes: [...this.children.values()].map((c) => ({ name: c.o.name, pid: c.pid, state: c.held ? "held" : c.state, restarts: c.restarts })),
      targetFile: this.path("target.yaml"),
      config: this.c,
    };
  }

  writeState(ready: boolean, error?: string): StackState {
    const s = this.state(ready);
    if (error !== undefined) s.error = error;
    writeFileSync(this.path("stack.json.tmp"), JSON.stringify(s, null, 1));
    renameSync(this.path("stack.json.tmp"), this.path("stack.json")); // atomic: a reader never sees half a file
    return s;
  }

  private writeTarget(): void {
    const s = this.state(true);
    const k = this.placement.kubernetes;
    // On kubernetes a slot's replica is the pod that held it when the target was written; names map to those pods.
    const replicas = k === undefined ? s.replicas : s.replicas.flatMap((r) => {
      const e = this.held.get(r.name);
      return e === undefined ? [] : [{ ...r, url: `http://${e.ip}:${e.port}`, zone: e.zone ?? r.zone }];
    });
    const target = {
      apiVersion: "faultline.dev/v1",
      kind: "Target",
      metadata: k === undefined ? { name: "local", description: `the local reference stack in ${this.dir}` } : { name: "kubernetes", description: `the gateway in ${this.dir} in front of the pods of namespace ${k.namespace}` },
      endpoints: {
        gateway: { url: s.endpoints.gateway },
        prometheus: { url: s.endpoints.prometheus },
        alertmanager: { url: s.endpoints.alertmanager },
        ...(k === undefined ? { rollout: { url: s.endpoints.rollout } } : {}),
        "stack-control": { url: s.endpoints.control },
        ...Object.fromEntries(replicas.map((r) => [`replica-${r.name}`, { url: r.url, labels: { region: r.region, zone: r.zone } }])),
      },
      ...(k === undefined
        ? { stack: { control: s.endpoints.control, rollout: s.endpoints.rollout, replicas: replicas.map((r) => ({ name: r.name, url: r.url, labels: { region: r.region, zone: r.zone } })) } }
        : {
            kubernetes: {
              kubeconfig: k.kubeconfig,
              ...(k.context ? { context: k.context } : {}),
              namespaces: [k.namespace],
              names: Object.fromEntries([...this.held].map(([slot, e]) => [slot, e.pod])),
            },
          }),
      toxiproxy: {
        api: s.endpoints.toxiproxy,
        // a kubernetes slot's zone is its pod's, which changes: its proxies carry no zone label
        proxies: s.replicas.flatMap((r) => {
          const where = k === undefined ? { region: r.region, zone: r.zone } : { region: r.region };
          return [
            { name: r.proxy, labels: { ...where, replica: r.name, path: "traffic" } },
            { name: r.healthProxy, labels: { ...where, replica: r.name, path: "health" } },
          ];
        }),
      },
      prometheus: { url: s.endpoints.prometheus },
      alertmanager: { url: s.endpoints.alertmanager },
    };
    writeFileSync(this.path("target.yaml"), `# yaml-language-server: $schema=${join(ROOT, "schemas/target.schema.json")}\n# generated by \`faultline stack up\`\n` + stringify(target));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.follower?.stop();
    clearInterval(this.outlierTimer);
    for (const t of this.ejected.values()) clearTimeout(t);
    await this.rollout?.close();
    await Promise.all([...this.children.values()].map((c) => c.stop()));
    rmSync(this.socket, { force: true });
    this.control?.closeAllConnections();
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
  }
}
