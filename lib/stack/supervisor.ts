import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { supervisorMetrics } from "./supervisor-metrics.ts";
import { sendJson } from "./http.ts";
import { stringify } from "yaml";
import { retryUntil } from "../clock.ts";
import { FaultlineError, errorMessage } from "../errors.ts";
import { ToxiproxyApi } from "../clients/toxiproxy.ts";
import { Child, whyItDied } from "../proc/child.ts";
import type { StackConfig } from "./config.ts";
import { haproxyConfig, statsSocketPath } from "./haproxy.ts";
import { POD_TARGETS_FILE, alertRules, alertmanagerConfig, prometheusConfig } from "./monitoring.ts";
import { reservePorts } from "../proc/ports.ts";
import { OOM_EXIT_CODE } from "./replica.ts";
import type { EndpointFollower } from "../clients/endpoint-slices.ts";
import { route } from "./control-api.ts";
import type { Controllable } from "./control-api.ts";
import { HaproxyApi } from "./haproxy-api.ts";
import { parseGatewayBuckets } from "./gateway-record.ts";
import { readGatewayEvents } from "./gateway-log.ts";
import type { GatewayEvent } from "../schema/gateway-event.ts";
import type { RolloutFollower } from "../clients/rollout-follower.ts";
import { OutlierEjector } from "./outlier.ts";
import { BackendWatch } from "./backend-watch.ts";
import { QueueUnjammer } from "./queue-unjam.ts";
import { SpillOver } from "./spillover.ts";
import { SlotKeeper } from "./slots.ts";
import { stackTarget } from "./target-file.ts";
import { RolloutController } from "./rollout.ts";
import { assignPorts, portsNeeded } from "./topology.ts";
import { LOOPBACK_HOSTS, clientConfig, sessionLayout, sessionPortsNeeded, sessionProxies } from "./session-store.ts";
import type { SessionHosts, SessionLayout } from "./session-store.ts";
import { SessionTier } from "./session-tier.ts";
import type { Ports, ReplicaSlot } from "./topology.ts";
import { LOOPBACK, TOXIPROXY_API_PORT, TOXIPROXY_ENV, slotConfig } from "./placement.ts";
import type { KubernetesReplicas, Placement, StackState } from "./placement.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

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
  /** the outlier pass's ejections and returns, newest last (the last 1,000), for `GET /gateway/events` */
  private readonly ejections: GatewayEvent[] = [];
  private watchers: { stop(): void }[] = []; // over the gateway's stats socket: outlier ejection, the queue unjam
  private readonly registry = new Registry();
  private readonly metrics: ReturnType<typeof supervisorMetrics>;
  private startedAt = Date.now();
  private stopping = false;
  /** the address Toxiproxy dials this stack by, resolved once at start (a free slot's proxies point here) */
  private self = "127.0.0.1";
  private follower: EndpointFollower | undefined;
  /** kubernetes placement: which pod holds which gateway slot */
  private keeper: SlotKeeper | undefined;
  private ejector: OutlierEjector | undefined;
  private rollouts: RolloutFollower | undefined;
  private readonly haproxy: HaproxyApi;
  private syncing: Promise<void> = Promise.resolve();
  /** the session store (Redis, Sentinels), on the loopback placement when `session.enabled` */
  private sessionLayout: SessionLayout | undefined;
  private sessions: SessionTier | undefined;

  readonly placement: Placement;

  constructor(c: StackConfig, dir: string, placement: Placement = LOOPBACK) {
    this.c = c;
    this.dir = dir;
    this.socket = statsSocketPath(dir);
    this.haproxy = new HaproxyApi(this.socket);
    this.placement = placement;
    this.metrics = supervisorMetrics(this.registry, () => this.haproxy.stolenMs());
  }

  private path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  async start(): Promise<StackState> {
    for (const d of ["logs", "prometheus", "alertmanager"]) mkdirSync(this.path(d), { recursive: true });
    const where = this.placement;
    const slotted = slotConfig(this.c, where);
    // The session store wherever the replicas are this stack's processes (pods would need a store of their own).
    const withSessions = this.c.session.enabled && where.kubernetes === undefined;
    const extra = withSessions && where.ports === undefined ? sessionPortsNeeded(this.c) : 0;
    // every port at once: two reservations could hand out the same free port twice
    const pool = where.ports ?? (await reservePorts(portsNeeded(slotted) + extra));
    ({ ports: this.ports, slots: this.slots } = assignPorts(slotted, pool.slice(0, portsNeeded(slotted))));
    if (withSessions) this.sessionLayout = sessionLayout(this.c, where.ports === undefined ? pool.slice(portsNeeded(slotted)) : await containerPorts(sessionPortsNeeded(this.c), where.ports), await sessionHosts(where));
    for (const s of where.kubernetes ? [] : this.slots) {
      this.metrics.ooms.inc({ replica: s.name, region: s.region }, 0);
      this.metrics.up.set({ replica: s.name, region: s.region, zone: s.zone }, 0);
    }

    await this.startControl();
    this.writeState(false);
    // First: Prometheus hands new targets to its scrapers only after about 5 s, so its wait overlaps the rest.
    const { alertmanager, prometheus } = this.startMonitoring();
    const tp = await this.startToxiproxy();
    const http = (port: number, path: string): (() => Promise<boolean>) => async () => (await fetch(`http://127.0.0.1:${port}${path}`)).ok;
    // the session store alongside the replicas (they find its primary through the Sentinels once it has one)
    const store = this.sessionLayout === undefined ? undefined : (this.sessions = new SessionTier(this.c, this.sessionLayout, this.dir, this.registry, (e) => this.noteEjection(e, undefined)));
    const storeReady = store?.start((name, command, args) => void this.spawn(name, command, args, { baseMs: 500, maxMs: 5000 }), tp).then(() => process.stderr.write(`${new Date().toISOString()} session store ready (${Date.now() - this.startedAt}ms since start)\n`));
    storeReady?.catch(() => undefined); // awaited below, once the gateway is up: no unhandled rejection meanwhile
    if (where.kubernetes === undefined) {
      for (const s of this.slots) this.startReplica(s);
      // Replicas ready before the gateway's first checks: servers start DOWN and would wait `rise` checks.
      await Promise.all(this.slots.map((s) => this.waitFor(`replica ${s.name}`, http(s.port, "/readyz"))));
    }
    const lua = join(HERE, "gateway-latency.lua");
    const gatewayHosts = { bind: where.bindHost, toxiproxy: where.toxiproxy?.host ?? "127.0.0.1", disabled: where.kubernetes !== undefined };
    writeFileSync(this.path("haproxy.cfg"), haproxyConfig(slotted, this.ports, this.slots, this.socket, lua, gatewayHosts));
    const haproxy = this.spawn("haproxy", "haproxy", ["-f", this.path("haproxy.cfg"), "-db"]);
    // On kubernetes the cluster rolls out (a Deployment's own rollout); no canary controller runs here.
    if (where.kubernetes === undefined) {
      this.rollout = new RolloutController(this.c, this.slots.map((s) => ({ name: s.name, region: s.region, adminUrl: `http://127.0.0.1:${s.port}` })), `http://127.0.0.1:${this.ports.prometheus}`);
      await this.rollout.listen(this.ports.rollout, where.bindHost);
    }
    await this.waitFor("haproxy", http(this.ports.gatewayMetrics, "/healthz"), haproxy);
    if (where.kubernetes !== undefined) await this.followEndpoints(where.kubernetes, haproxy, tp);
    await this.waitFor("gateway (a replica answers through haproxy and toxiproxy)", http(this.ports.gateway, "/readyz"), haproxy);
    // Replicas load while HAProxy's first checks run: ready means every server is UP, else the split is off.
    await this.waitFor("every gateway server UP", async () => [...(await this.serverStates()).values()].every((st) => st === "UP" || st === "MAINT"), haproxy);
    await storeReady; // its primary and replicas found meanwhile, HAProxy's first checks not kept waiting
    await this.waitFor("alertmanager", http(this.ports.alertmanager, "/-/ready"), alertmanager);
    await this.waitFor("prometheus", http(this.ports.prometheus, "/-/ready"), prometheus);
    this.ejector = new OutlierEjector(this.haproxy, "inference", this.c.gateway.outlier, this.slots, (e, why) => this.noteEjection(e, why), (server) => this.keeper?.weightOf(server));
    const unjam = this.c.gateway.unjamQueue ? [new QueueUnjammer(this.haproxy, "inference", (servers) => this.metrics.unjams.inc(servers.length))] : [];
    const spill = this.c.gateway.spillover.enabled && where.kubernetes === undefined && this.slots.some((s) => s.standby) ? [new SpillOver(this.haproxy, this.c.replica.maxBatch, this.c.gateway.spillover, (pct) => this.metrics.spill.set(pct))] : [];
    this.watchers.push(new BackendWatch(this.haproxy, "inference", [this.ejector, ...unjam, ...spill]));
    this.writeTarget();
    return this.writeState(true);
  }

  /** Toxiproxy first: every path into a region goes through it, one proxy pair per replica slot. */
  private async startToxiproxy(): Promise<ToxiproxyApi> {
    const where = this.placement;
    const toxiproxy = where.toxiproxy ? undefined : this.spawn("toxiproxy", join(ROOT, "tools/bin/toxiproxy-server"), ["-host", "127.0.0.1", "-port", String(this.ports.toxiproxy)], undefined, TOXIPROXY_ENV);
    const tp = new ToxiproxyApi(where.toxiproxy?.api ?? `http://127.0.0.1:${this.ports.toxiproxy}`);
    await this.waitFor("toxiproxy", () => tp.version().then(() => true), toxiproxy);
    // An external Toxiproxy listens on every address of its container; the gateway dials it by name.
    const listen = where.toxiproxy ? "0.0.0.0" : "127.0.0.1";
    // By address, not name: Toxiproxy would ask Docker's DNS again for every connection it opens.
    this.self = isIP(where.selfHost) ? where.selfHost : (await lookup(where.selfHost)).address;
    // A kubernetes slot's proxies point at its own reserved port (nothing listens there) until a pod takes the slot.
    for (const s of this.slots) {
      await tp.ensureProxy(s.proxyName, `${listen}:${s.proxyPort}`, `${this.self}:${s.port}`);
      await tp.ensureProxy(s.healthProxyName, `${listen}:${s.healthProxyPort}`, `${this.self}:${s.port}`);
    }
    return tp;
  }

  /** Alertmanager and Prometheus with the stack's rules (on kubernetes, scraping the pods in the gateway's slots). */
  private startMonitoring(): { alertmanager: Child; prometheus: Child } {
    const bind = this.placement.bindHost;
    writeFileSync(this.path("alertmanager.yml"), alertmanagerConfig(this.c));
    const alertmanager = this.spawn("alertmanager", "prometheus-alertmanager", [`--config.file=${this.path("alertmanager.yml")}`, `--storage.path=${this.path("alertmanager")}`, `--web.listen-address=${bind}:${this.ports.alertmanager}`, "--cluster.listen-address="]);
    writeFileSync(this.path("rules.yml"), stringify(alertRules(this.c)));
    // no pod holds a slot yet: Prometheus's file discovery starts from an empty list
    if (this.placement.kubernetes !== undefined) writeFileSync(this.path(POD_TARGETS_FILE), "[]");
    writeFileSync(this.path("prometheus.yml"), prometheusConfig(this.c, this.ports, this.slots, this.path("rules.yml"), this.placement.kubernetes, this.sessionLayout));
    const prometheus = this.spawn("prometheus", "prometheus", [`--config.file=${this.path("prometheus.yml")}`, `--storage.tsdb.path=${this.path("prometheus")}`, `--web.listen-address=${bind}:${this.ports.prometheus}`, "--web.enable-lifecycle", "--storage.tsdb.retention.time=1d", "--log.level=warn"]);
    return { alertmanager, prometheus };
  }

  private spawn(name: string, command: string, args: string[], restart?: Child["o"]["restart"], env?: Record<string, string>, onExit?: Child["o"]["onExit"]): Child {
    const child = new Child({ name, command, args, logFile: this.path("logs", `${name}.log`), ...(restart ? { restart } : {}), ...(env ? { env } : {}), ...(onExit ? { onExit } : {}) });
    this.children.set(name, child);
    child.start();
    return child;
  }

  private startReplica(s: ReplicaSlot): void {
    const labels = { replica: s.name, region: s.region, zone: s.zone };
    const session = this.sessionLayout && clientConfig(this.c, this.sessionLayout, s.region);
    const env = { FAULTLINE_REPLICA: JSON.stringify({ name: s.name, region: s.region, zone: s.zone, host: this.placement.bindHost, port: s.port, replica: this.c.replica, ...(session ? { session } : {}) }) };
    const backoff = { baseMs: this.c.replica.restartBackoffMs, maxMs: this.c.replica.restartBackoffMaxMs };
    const child = this.spawn(`replica-${s.name}`, process.execPath, [join(HERE, "replica-main.ts")], backoff, env, (code, signal) => {
      this.metrics.up.set(labels, 0);
      if (this.stopping) return;
      const reason = code === OOM_EXIT_CODE ? "oom" : signal !== null ? `signal-${signal}` : `exit-${code}`;
      this.metrics.restarts.inc({ replica: s.name, region: s.region, reason });
      if (code === OOM_EXIT_CODE) this.metrics.ooms.inc({ replica: s.name, region: s.region });
      this.writeState(true);
    });
    this.replicaChildren.set(s.name, child);
    this.metrics.up.set(labels, 1);
  }

  /** Kubernetes placement: the gateway follows the regions' EndpointSlices (see SlotKeeper); returns once every region that should serve has a pod. */
  private async followEndpoints(k: KubernetesReplicas, haproxy: Child, tp: ToxiproxyApi): Promise<void> {
    const { kube } = await import("../clients/kubernetes.ts");
    const { EndpointFollower } = await import("../clients/endpoint-slices.ts");
    const keeper = new SlotKeeper({ config: this.c, slots: this.slots, servicePrefix: k.servicePrefix, haproxy: this.haproxy, toxiproxy: tp, self: this.self, podTargetsFile: this.path(POD_TARGETS_FILE),
      ejected: (slot) => this.ejector?.isEjected(slot) === true,
      resync: () => {
        const follower = this.follower;
        if (follower === undefined) return;
        this.inTurn("slot sync", () => keeper.sync(follower.ready()));
      },
    });
    this.keeper = keeper;
    const services = this.c.regions.map((r) => `${k.servicePrefix}${r.name}`);
    this.follower = new EndpointFollower(kube(k.kubeconfig, k.context), k.namespace, services, (ready) => {
      this.inTurn("slot sync", () => keeper.sync(ready));
    });
    await this.follower.start((err) => process.stderr.write(`EndpointSlice watch: ${errorMessage(err)}\n`));
    // Argo Rollouts mid-canary: the canary's pods get its weight of their region's requests
    const { RolloutFollower } = await import("../clients/rollout-follower.ts");
    this.rollouts = new RolloutFollower(kube(k.kubeconfig, k.context), k.namespace, (splits) => {
      for (const [region, s] of splits) if (s.canary !== s.stable) process.stderr.write(`${new Date().toISOString()} canary split in ${region}: ${s.weight}% to ${s.canary}, ${100 - s.weight}% to ${s.stable}\n`);
      this.inTurn("canary split", () => keeper.setSplits(splits));
    });
    await this.rollouts.start((err) => process.stderr.write(`Rollout watch: ${errorMessage(err)}\n`));
    const want = this.c.regions.filter((r) => r.replicas > 0).map((r) => r.name);
    await this.waitFor(`a ready pod in each region (${want.join(", ")})`, async () => keeper.everyRegionServed(), haproxy, 60_000);
  }

  /** Changes to the gateway's slots, one at a time in arrival order, none once stopping; a failure is logged, never thrown. */
  private inTurn(what: string, work: () => Promise<void>): void {
    this.syncing = this.syncing.then(() => (this.stopping ? undefined : work())).catch((err: unknown) => void process.stderr.write(`${what} failed: ${errorMessage(err)}\n`));
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

  /** HAProxy's view of each inference server: UP, DOWN, MAINT, … */
  async serverStates(): Promise<Map<string, string>> {
    return new Map((await this.haproxy.stats("inference")).map((st) => [st.name, st.status]));
  }

  private async startControl(): Promise<void> {
    this.control = createServer((req, res) => void route(this.controllable, req, res).catch((err: unknown) => sendJson(res, 500, { error: errorMessage(err) })));
    await new Promise<void>((resolve, reject) => {
      this.control?.once("error", reject);
      this.control?.listen(this.ports.control, this.placement.bindHost, () => resolve());
    });
  }

  private noteEjection(e: GatewayEvent, why: "failures" | "slow" | undefined): void {
    if (why !== undefined && e.server !== undefined) this.metrics.ejections.inc({ server: e.server, reason: why });
    this.ejections.push(e);
    if (this.ejections.length > 1000) this.ejections.shift();
  }

  /** What the control API (control-api.ts) asks of the supervisor. */
  private readonly controllable: Controllable = {
    metrics: async () => ({ contentType: this.registry.contentType, body: await this.registry.metrics() }),
    state: () => this.state(true),
    gatewayBuckets: async (since) => parseGatewayBuckets(await this.haproxy.command(`fl buckets ${Math.max(0, Math.floor(since))}`)),
    gatewayEvents: (since) => [...readGatewayEvents(this.path("logs", "haproxy.log"), since), ...this.ejections.filter((e) => e.t >= since)].sort((a, b) => a.t - b.t),
    replica: (name, action, body) => {
      const child = this.replicaChildren.get(name);
      if (child === undefined) return { ok: false, have: [...this.replicaChildren.keys()] };
      if (action === "kill") child.kill(body.signal ?? "SIGKILL", body.restart === false);
      else if (action === "freeze") child.pause();
      else if (action === "thaw") child.resume();
      else {
        child.start();
        const s = this.slots.find((x) => x.name === name);
        if (s) this.metrics.up.set({ replica: s.name, region: s.region, zone: s.zone }, 1);
      }
      return { ok: true, state: { state: child.state, held: child.held, frozen: child.paused, pid: child.pid ?? null } };
    },
    sessions: {
      read: async (ids) => {
        if (this.sessions === undefined) throw new FaultlineError("E_TARGET", "this stack has no session store (session.enabled, local placement)");
        return this.sessions.read(ids);
      },
      state: () => this.sessions?.state() ?? null,
    },
    setWebhook: async (url) => {
      const cfg = { ...this.c, alerting: { ...this.c.alerting, ...(url ? { webhookUrl: url } : {}) } };
      if (!url) delete (cfg.alerting as { webhookUrl?: string }).webhookUrl;
      writeFileSync(this.path("alertmanager.yml"), alertmanagerConfig(cfg));
      return (await fetch(`http://127.0.0.1:${this.ports.alertmanager}/-/reload`, { method: "POST" })).ok;
    },
  };

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
      processes: [...this.children.values()].map((c) => ({ name: c.o.name, pid: c.pid, state: c.held ? "held" : c.paused ? "frozen" : c.state, restarts: c.restarts })),
      targetFile: this.path("target.yaml"),
      config: this.c,
      ...(this.sessionLayout ? { session: { proxies: sessionProxies(this.sessionLayout).map((p) => ({ name: p.name, labels: p.labels })) } } : {}),
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
    const target = stackTarget(this.state(true), this.placement.kubernetes, this.keeper?.held ?? new Map());
    writeFileSync(this.path("target.yaml"), `# yaml-language-server: $schema=${join(ROOT, "schemas/target.schema.json")}\n# generated by \`faultline stack up\`\n` + stringify(target));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.follower?.stop();
    await this.rollouts?.stop();
    this.keeper?.stop();
    for (const w of this.watchers) w.stop();
    this.sessions?.stop();
    await this.rollout?.close();
    await Promise.all([...this.children.values()].map((c) => c.stop()));
    rmSync(this.socket, { force: true });
    this.control?.closeAllConnections();
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
  }
}

/** Where the session store is reached (session-store.ts): loopback, or across containers by address. */
async function sessionHosts(where: Placement): Promise<SessionHosts> {
  if (where.toxiproxy === undefined) return LOOPBACK_HOSTS;
  const ip = async (host: string): Promise<string> => (isIP(host) ? host : (await lookup(host)).address);
  return { bind: where.bindHost, upstream: await ip(where.selfHost), listen: "0.0.0.0", proxy: await ip(where.toxiproxy.host) };
}

/**
 * Ports for the session store in a container whose published ports the host picked: free here, and
 * none the host's pool (or Toxiproxy's API) already names, since the store's proxies listen in
 * Toxiproxy's container beside the replicas'.
 */
async function containerPorts(n: number, taken: readonly number[]): Promise<number[]> {
  const busy = new Set([...taken, TOXIPROXY_API_PORT]);
  return (await reservePorts(n + busy.size)).filter((p) => !busy.has(p)).slice(0, n);
}
