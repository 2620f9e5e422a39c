// npm run bench:k8s — node loss (and a zone's loss) on a simulated fleet of ~1,000 GPU nodes in 3 regions (kwok on the
// local control plane): the time from the fault until every replica is Ready elsewhere, and
// faultline's own CPU and RSS while it watches. BENCH_NODES_PER_ZONE (default 111: 999 nodes),
// BENCH_REPLICAS_PER_REGION (default 99). The baseline row is the same run on the 9-node fleet.
// The fleet lives in namespace fleet-bench, where the pod bridge runs no replica processes: two
// cores do not start 297 of them in the benchmark's time, and what is measured here is the
// control plane's rescheduling and faultline's cost of watching it (kwok's Ready, no model load).
import pino from "pino";
import { runExperiment } from "../lib/engine/run.ts";
import { kube } from "../lib/clients/kubernetes.ts";
import { clusterDown, clusterUp, writeClusterTarget } from "../lib/k8s/cluster.ts";
import { DEFAULT_FLEET, applyFleet } from "../lib/k8s/fleet.ts";
import { Experiment } from "../lib/schema/experiment.ts";
import { tempDir } from "../test/helpers/fixtures.ts";
import { table } from "./cpu.ts";

const perZone = Number(process.env.BENCH_NODES_PER_ZONE ?? 111);
const perRegion = Number(process.env.BENCH_REPLICAS_PER_REGION ?? 99);
const BENCH_NS = "fleet-bench";

/** Loses `nodes` (names) — or a whole zone — and judges rescheduling within 10 minutes. */
function experiment(fault: Record<string, unknown>): ReturnType<typeof Experiment.parse> {
  return Experiment.parse({
    apiVersion: "faultline.dev/v1",
    kind: "Experiment",
    metadata: { name: "bench-node-loss" },
    phases: { warmup: "0s", baseline: "5s", recovery: "5s" },
    faults: [{ name: "lose", duration: "90s", ...fault }],
    assertions: [
      { kind: "rescheduled", name: "rescheduled", fault: "lose", within: "10m" },
      { kind: "capacity", name: "capacity", fault: "lose", minRatio: 1.5 },
    ],
  });
}

async function once(nodesPerZone: number, replicas: number, what: "1 node" | "3 nodes" | "a zone"): Promise<(string | number)[]> {
  const dir = tempDir("bench-k8s");
  const t0 = Date.now();
  // production-like heartbeats for a big fleet: 40 s leases renewed every 10 s, NotReady after 40 s without one
  const big = nodesPerZone > 10;
  const state = await clusterUp({ dir, ...(big ? { nodeLeaseSeconds: 40, nodeMonitorGraceSeconds: 40 } : {}), timeoutMs: 300_000 });
  try {
    const spec = { ...DEFAULT_FLEET, namespace: BENCH_NS, regions: DEFAULT_FLEET.regions.map((r) => ({ ...r, nodesPerZone, replicas })) };
    const fleet = await applyFleet(kube(state.kubeconfig as string), spec, { timeoutMs: 600_000 });
    const ready = Date.now() - t0;
    const target = writeClusterTarget(dir, [BENCH_NS]);
    // nodes of us-east that run a replica (on a big fleet most nodes run none)
    const k = kube(state.kubeconfig as string);
    const hosts = [...new Set((await k.core.listNamespacedPod({ namespace: BENCH_NS })).items.filter((p) => p.metadata?.labels?.["topology.kubernetes.io/region"] === "us-east").map((p) => p.spec?.nodeName as string))].sort().slice(0, what === "1 node" ? 1 : 3);
    const fault = what === "a zone" ? { kind: "zone-outage", selector: { matchLabels: { zone: "us-east-a" } } } : { kind: "node-loss", selector: { names: hosts } };
    const cpu0 = process.cpuUsage();
    let rssMax = 0;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 250);
    const t1 = Date.now();
    const { record } = await runExperiment({ experiment: experiment(fault), target, outDir: dir, log: pino({ level: "silent" }) });
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    const wall = (Date.now() - t1) / 1000;
    const res = record.assertions.find((a) => a.name === "rescheduled");
    const lost = record.timeline.filter((e) => e.type === "k8s.pod.deleted").length;
    return [
      what,
      fleet.nodes,
      fleet.replicas,
      (ready / 1000).toFixed(1),
      lost,
      res?.measured === null || res?.measured === undefined ? `never (${res?.message ?? "?"})` : Number(res.measured).toFixed(1),
      record.verdict ?? "?",
      (((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(1),
      (rssMax / 2 ** 20).toFixed(0),
      record.timeline.length,
    ];
  } finally {
    await clusterDown({ dir });
  }
}

const rows = [await once(1, 3, "1 node"), await once(perZone, perRegion, "3 nodes"), await once(perZone, perRegion, "a zone")];
console.log("\nbench:k8s — nodes of us-east NotReady for 90 s on a kwok fleet (local control plane, 2 cores)\n");
console.log(table(["lost", "nodes", "replicas", "fleet ready s", "pods evicted", "rescheduled s", "verdict", "faultline CPU %", "faultline RSS MiB", "timeline events"], rows));
console.log("\nrescheduled: from the fault taking effect until every replica is Ready off the lost nodes; includes the node-monitor grace period (10 s small, 40 s big) and the pods' 5 s NotReady toleration.");
console.log("A whole zone drains at kube-controller-manager's --node-eviction-rate (0.1 nodes/s by default): its replicas are not all rescheduled within the fault.");
