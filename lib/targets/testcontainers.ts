import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type Dockerode from "dockerode";
import { stringify } from "yaml";
import { z } from "zod";
import { FaultlineError, errorMessage } from "../errors.ts";
import { opsBackend } from "../faults/types.ts";
import type { UndoOp } from "../faults/types.ts";
import { loadOne } from "../loader/documents.ts";
import { loadStackConfig } from "../stack/config.ts";
import { alive, procStat } from "../proc/group.ts";
import { reservePorts } from "../proc/ports.ts";
import { rulesTiming } from "../stack/monitoring.ts";
import { TOXIPROXY_API_PORT, TOXIPROXY_ENV } from "../stack/placement.ts";
import type { Placement } from "../stack/placement.ts";
import { assignPorts, portsNeeded } from "../stack/topology.ts";
import type { StartedTarget } from "./local.ts";

/** Labels on every container faultline starts: which run, and which process on which host owns it. */
export const RUN_LABEL = "dev.faultline.run";
export const OWNER_LABEL = "dev.faultline.owner";
/** The aliases the stack's containers have on the run's network. */
const ALIAS = { toxiproxy: "toxiproxy" };
/**
 * The stack in a fresh container is slower to warm than as processes: at 2,000 req/s on two cores
 * region-partition's p99 was 0.5–0.95 s from 2 to 5 s into the load and under 110 ms only from 7 s
 * (its baseline, from 5 s, aborted at 501.8 ms), 50–65 ms from 8 s on; on `local` it settles within
 * the 5 s warm-up.
 */
const CONTAINER_WARMUP_MS = 10_000;
/** the host every part of the stack reaches the others on: it shares Toxiproxy's network namespace */
const LOOPBACK_HOST = "127.0.0.1";

export interface TestcontainersImages {
  stack: string;
  toxiproxy: string;
}

/** The images `make images` builds (tools/images.sh), unless the environment names others. */
export function defaultImages(env: NodeJS.ProcessEnv = process.env): TestcontainersImages {
  return { stack: env.FAULTLINE_STACK_IMAGE ?? "faultline/stack:local", toxiproxy: env.FAULTLINE_TOXIPROXY_IMAGE ?? "faultline/toxiproxy:local" };
}

export function networkName(runId: string): string {
  return `faultline-${runId}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
}

async function docker(): Promise<Dockerode> {
  const { default: Docker } = await import("dockerode");
  const d = new Docker();
  try {
    await d.ping();
  } catch (err) {
    throw new FaultlineError("E_TARGET", `--target testcontainers needs a Docker engine and none answers (${errorMessage(err)}): run \`make docker-up\` (tools/images.sh up), or set DOCKER_HOST`);
  }
  return d;
}

async function requireImage(d: Dockerode, image: string): Promise<void> {
  try {
    await d.getImage(image).inspect();
  } catch {
    // Nothing is pulled at run time: the images are built here, or named by the environment.
    throw new FaultlineError("E_TARGET", `image ${image} is not in the Docker engine: run \`make images\` (or set FAULTLINE_STACK_IMAGE / FAULTLINE_TOXIPROXY_IMAGE to images you built)`);
  }
}

/**
 * The run's containers as process groups of this host, so that the host lane tells the stack's CPU
 * from other work's as on `local`: a container's first process leads a process group that the
 * processes it starts join (the stack's supervisor starts every other part of it). Undefined — its
 * CPU then is never called other work — where the engine's processes are not this host's (a remote
 * DOCKER_HOST, an engine in a VM): that first process must be in its container's cgroup here.
 */
async function hostProcessGroups(d: Dockerode, ids: readonly string[]): Promise<number[] | undefined> {
  const groups: number[] = [];
  for (const id of ids) {
    const pid = (await d.getContainer(id).inspect()).State?.Pid;
    if (pid === undefined || pid <= 0) return undefined;
    try {
      if (!readFileSync(`/proc/${pid}/cgroup`, "utf8").includes(id)) return undefined;
    } catch {
      return undefined;
    }
    if (procStat(pid)?.pgrp !== pid) return undefined;
    groups.push(pid);
  }
  return groups;
}

/** Removes every container labelled with `runId`, then the run's network. Idempotent. */
export async function removeRun(runId: string, d?: Dockerode): Promise<string[]> {
  const client = d ?? (await docker());
  const removed: string[] = [];
  const containers = await client.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${runId}`] } });
  for (const c of containers) {
    await client.getContainer(c.Id).remove({ force: true, v: true }).catch((err: unknown) => {
      if (!/no such container|404/i.test(errorMessage(err))) throw err;
    });
    removed.push((c.Names[0] ?? c.Id).replace(/^\//, ""));
  }
  const networks = await client.listNetworks({ filters: { name: [networkName(runId)] } });
  for (const n of networks.filter((x) => x.Name === networkName(runId))) {
    await client.getNetwork(n.Id).remove().catch((err: unknown) => {
      if (!/not found|404/i.test(errorMessage(err))) throw err;
    });
    removed.push(`network ${n.Name}`);
  }
  return removed;
}

/**
 * The reaper (Ryuk's job, whose image cannot be pulled here): removes the containers and networks
 * of every run whose owning process on this host is gone. Runs that are alive keep theirs.
 */
export async function reapOrphans(): Promise<string[]> {
  const d = await docker();
  const runs = new Set<string>();
  for (const c of await d.listContainers({ all: true, filters: { label: [OWNER_LABEL] } })) {
    const [host, pid] = (c.Labels[OWNER_LABEL] ?? "").split(":");
    const run = c.Labels[RUN_LABEL];
    if (run !== undefined && host === hostname() && !alive(Number(pid))) runs.add(run);
  }
  const removed: string[] = [];
  for (const run of runs) removed.push(...(await removeRun(run, d)));
  return removed;
}

/** Undo of "containers were started for a run": remove them. Journaled before the first one starts. */
const RemoveContainers = z.strictObject({ driver: z.literal("testcontainers"), op: z.literal("remove"), run: z.string() });
type RemoveContainers = z.infer<typeof RemoveContainers>;
const removeContainers: UndoOp<RemoveContainers> = {
  schema: RemoveContainers,
  revert: async (u) => void (await removeRun(u.run)),
  isActive: async (u) => (await (await docker()).listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${u.run}`] } })).length > 0,
};

/** The containers of testcontainers runs; its sweep is the reaper (Ryuk's image cannot be pulled here). */
export const testcontainersBackend = opsBackend("testcontainers", { remove: removeContainers }, { defaultOp: "remove", sweep: async () => ({ swept: await reapOrphans(), failed: [] }) });

/**
 * Alertmanager runs in a container and must reach the run's webhook receiver, which listens on
 * loopback: a TCP relay on the network's gateway address (this host, as the containers see it)
 * passes its connections to the receiver and nowhere else.
 */
async function relay(listenHost: string, to: URL): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(to.port), to.hostname);
    inbound.pipe(outbound).pipe(inbound);
    const end = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("error", end);
    outbound.on("error", end);
  });
  await new Promise<void>((r, j) => {
    server.once("error", j);
    server.listen(0, listenHost, () => r());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${listenHost}:${port}${to.pathname}${to.search}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
      }),
  };
}

/** testcontainers' protected host config, where what it has no option for is set before `start()`. */
function hostConfigOf(container: object): { PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[]>; Sysctls?: Record<string, string> } {
  return (container as unknown as { hostConfig: ReturnType<typeof hostConfigOf> }).hostConfig;
}

/**
 * Publishes a container's ports on 127.0.0.1 only. testcontainers binds every host address and has
 * no option for it (hostConfigOf). The stack's control and admin APIs must not be reachable from
 * the machine's network.
 */
function onLoopback<C extends object>(container: C): C {
  const hc = hostConfigOf(container);
  for (const bindings of Object.values(hc.PortBindings ?? {})) for (const b of bindings) b.HostIp = "127.0.0.1";
  return container;
}

/**
 * Keeps a container's own outgoing connections off the ports its servers are yet to listen on: the
 * stack's ports are picked free on this host, but inside the container an early connection (a
 * scrape, a replication link) could take one as its ephemeral port first — seen once: Prometheus
 * could not bind its port ("address already in use") and the stack never came up. The sysctl is the
 * container's network namespace's own; testcontainers has no option for it (hostConfigOf).
 */
function reservingPorts<C extends object>(container: C, ports: readonly number[]): C {
  const hc = hostConfigOf(container);
  hc.Sysctls = { ...hc.Sysctls, "net.ipv4.ip_local_reserved_ports": ports.join(",") };
  return container;
}

export interface TestcontainersTargetOptions {
  /** the run's stack folder: bind-mounted into the stack container (config in, logs and state out) */
  dir: string;
  runId: string;
  configFile?: string;
  sets?: string[];
  webhookUrl?: string;
  images?: TestcontainersImages;
  onProgress?: (line: string) => void;
}

/**
 * The `testcontainers` target: the reference stack in Docker. One network per run; Toxiproxy in its
 * own container (`@testcontainers/toxiproxy`), which holds the network namespace; the gateway,
 * replicas, Prometheus, Alertmanager and rollout controller in the stack container, which joins
 * that namespace, so that every path to a replica goes through Toxiproxy on loopback. The stack's
 * ports are picked free on this host and published under the same numbers on 127.0.0.1, so the
 * target file the stack writes is valid here as it stands.
 */
export async function startTestcontainersTarget(o: TestcontainersTargetOptions): Promise<StartedTarget> {
  // Ryuk's image cannot be pulled here: the journal and `reapOrphans` do its work.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  // ports are published on 127.0.0.1 only (onLoopback): "localhost" could resolve to ::1 first
  if (process.env.DOCKER_HOST === undefined || process.env.DOCKER_HOST.startsWith("unix://")) process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
  const progress = o.onProgress ?? (() => undefined);
  const d = await docker();
  // Ryuk's job at a session's start: the containers of runs whose process on this host is gone (a
  // crash, a kill) would take the CPU this run measures on
  const notes = await reapOrphans().then(
    (reaped) => (reaped.length > 0 ? [`removed what runs no longer alive had left running: ${reaped.join(", ")}`] : []),
    (err: unknown) => [`could not look for what runs no longer alive left running: ${errorMessage(err)}`],
  );
  for (const n of notes) progress(n);
  const images = o.images ?? defaultImages();
  await requireImage(d, images.toxiproxy);
  await requireImage(d, images.stack);
  const { GenericContainer, Network, Wait } = await import("testcontainers");
  const { ToxiProxyContainer } = await import("@testcontainers/toxiproxy");

  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  const labels = { [RUN_LABEL]: o.runId, [OWNER_LABEL]: `${hostname()}:${process.pid}` };
  let closeRelay: (() => Promise<void>) | undefined;
  const stopAll = async (): Promise<void> => {
    await closeRelay?.().catch(() => undefined);
    await removeRun(o.runId, d);
  };
  try {
    const network = await new Network({ nextUuid: () => networkName(o.runId) }).start();
    const gateway = (await d.getNetwork(network.getId()).inspect()).IPAM?.Config?.[0]?.Gateway as string | undefined;
    if (gateway === undefined) throw new FaultlineError("E_TARGET", `network ${network.getName()} has no gateway address`);

    const sets = [...(o.sets ?? [])];
    if (o.webhookUrl !== undefined) {
      const r = await relay(gateway, new URL(o.webhookUrl));
      closeRelay = r.close;
      sets.push(`alerting.webhookUrl=${r.url}`);
    }
    const config = await loadStackConfig(o.configFile, sets);
    const ports = await reservePorts(portsNeeded(config));
    // Toxiproxy's container holds the network namespace that the stack's container joins: the gateway
    // dials Toxiproxy and Toxiproxy the replicas on that namespace's loopback, as on `local`, so the
    // load does not cross the bridge twice more per request (at 2,000 req/s across it, Toxiproxy had 24 %
    // of the host's CPU samples against 12 % on loopback, and region-partition's failover took 10–28 s).
    const placement: Placement = { bindHost: "0.0.0.0", selfHost: LOOPBACK_HOST, toxiproxy: { api: `http://${LOOPBACK_HOST}:${TOXIPROXY_API_PORT}`, host: LOOPBACK_HOST }, ports };
    writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 1));
    writeFileSync(join(dir, "placement.json"), JSON.stringify(placement, null, 1));
    // What a client on this host dials: the stack's own servers and each replica (its metrics and admin API).
    const { ports: p, slots } = assignPorts(config, ports); // p.toxiproxy goes unused: Toxiproxy has its own container
    const published = [p.gateway, p.gatewayMetrics, p.prometheus, p.alertmanager, p.control, p.rollout, ...slots.map((s) => s.port)];
    // the namespace's owner publishes the stack's ports, and keeps the run's ports from its own connections
    progress(`starting ${images.toxiproxy}`);
    const toxiproxy = await reservingPorts(
      onLoopback(
        new ToxiProxyContainer(images.toxiproxy)
          .withEnvironment(TOXIPROXY_ENV)
          .withNetwork(network)
          .withNetworkAliases(ALIAS.toxiproxy)
          .withLabels(labels)
          .withExposedPorts(...published.map((p) => ({ container: p, host: p }))),
      ),
      ports,
    ).start();

    progress(`starting ${images.stack} in the network namespace of ${images.toxiproxy} (${published.length} ports published on this host)`);
    // its last lines of output, for the error when it exits before it is ready (the wait strategy says only that the log ended)
    const tail: string[] = [];
    const keep = (chunk: unknown): void => {
      for (const line of String(chunk).split("\n")) {
        if (line.trim() === "") continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    const stack = await new GenericContainer(images.stack)
      .withNetworkMode(`container:${toxiproxy.getId()}`)
      .withLabels(labels)
      .withBindMounts([{ source: dir, target: "/stack" }])
      .withLogConsumer((stream) => stream.on("data", keep))
      .withWaitStrategy(Wait.forLogMessage(/stack ready in/))
      .withStartupTimeout(120_000)
      .start()
      .catch((err: unknown) => {
        throw new FaultlineError("E_TARGET", `the stack container did not become ready: ${errorMessage(err)}${tail.length ? `; its last output:\n${tail.join("\n")}` : ""}`, { cause: err });
      });

    // The stack wrote its target file as it sees itself; only Toxiproxy's API is elsewhere from here.
    const target = await loadOne(join(dir, "target.yaml"), "Target");
    const api = `http://127.0.0.1:${toxiproxy.getMappedPort(TOXIPROXY_API_PORT)}`;
    if (target.toxiproxy) target.toxiproxy.api = api;
    target.metadata = { ...target.metadata, name: "testcontainers", description: `the reference stack in Docker (network ${network.getName()}); state in ${dir}` };
    const targetFile = join(dir, "target.yaml");
    writeFileSync(targetFile, `# generated by the testcontainers target\n${stringify(target)}`);
    const groups = await hostProcessGroups(d, [toxiproxy.getId(), stack.getId()]);
    return { target, targetFile, config, processGroups: () => groups, warmupMs: CONTAINER_WARMUP_MS, alertRules: rulesTiming(config), notes, stop: stopAll };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}
