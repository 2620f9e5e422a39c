import { ApiextensionsV1Api, PatchStrategy, loadYaml, setHeaderOptions } from "@kubernetes/client-node";
import type { V1CustomResourceDefinition, V1Node, V1Pod } from "@kubernetes/client-node";
import { expect } from "chai";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { retryUntil } from "../../lib/clock.ts";
import { undoBackend } from "../../lib/engine/backends.ts";
import { planFault } from "../../lib/faults/catalog.ts";
import { NETWORKCHAOS } from "../../lib/faults/kubernetes/network-partition.ts";
import { XID_TAINT } from "../../lib/faults/kubernetes/gpu-xid.ts";
import { NOT_READY_LABEL } from "../../lib/faults/kubernetes/nodes.ts";
import { APP_LABEL, REGION_LABEL, ZONE_LABEL, isReady, isServing, kube } from "../../lib/clients/kubernetes.ts";
import type { Kube } from "../../lib/clients/kubernetes.ts";
import { hostPort } from "../../lib/clients/sessions.ts";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import { SESSION_ENV } from "../../lib/k8s/bridge.ts";
import { clusterDown, clusterUp, writeClusterTarget } from "../../lib/k8s/cluster.ts";
import { DEFAULT_FLEET, applyFleet } from "../../lib/k8s/fleet.ts";
import { Fault } from "../../lib/schema/faults.ts";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import type { Target } from "../../lib/schema/target.ts";
import { startTarget } from "../../lib/targets/index.ts";
import { Redis } from "ioredis";
import pino from "pino";
import { runCli, startCli, waitForJournal } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { startStack } from "../helpers/stack.ts";
import { ROOT } from "../helpers/servers.ts";

const NS = DEFAULT_FLEET.namespace;
const MERGE = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const JSON_PATCH = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
const STRATEGIC = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
const log = pino({ level: "silent" });

/** Ready, and its replica serves (the bridge's readiness probe said so, not only kwok). */
const podReady = (p: V1Pod): boolean => p.metadata?.deletionTimestamp === undefined && isServing(p);

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  return retryUntil(fn, ok, ({ value, elapsedMs }) => new Error(`${what}: not after ${elapsedMs}ms (last: ${JSON.stringify(value)?.slice(0, 300)})`), { timeoutMs, intervalMs: 200 });
}

/**
 * Kubernetes faults against a real control plane on this machine: etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler built from k8s.io/kubernetes, and kwok's simulated
 * GPU nodes. Each fault is injected through the same planner the run loop uses, its effect read
 * back from the API server, then reverted through the driver that `recover` uses.
 */
describe("kubernetes target (a real API server, controller-manager and scheduler; kwok nodes)", function () {
  this.timeout(180_000);
  let dir: string;
  let k: Kube;
  let targetFile: string;
  let target: Target;

  const pods = async (labels: Record<string, string> = {}): Promise<V1Pod[]> =>
    (await k.core.listNamespacedPod({ namespace: NS, labelSelector: Object.entries({ [APP_LABEL]: "inference", ...labels }).map(([a, b]) => `${a}=${b}`).join(",") })).items;
  const nodes = async (labels: Record<string, string> = {}): Promise<V1Node[]> =>
    (await k.core.listNode({ labelSelector: Object.entries({ type: "kwok", ...labels }).map(([a, b]) => `${a}=${b}`).join(",") })).items;
  /** Every node Ready and schedulable, every replica Ready and none terminating: the fleet as made. */
  const settled = (): Promise<unknown> =>
    until(
      "the fleet settles",
      async () => ({ nodes: (await nodes()).filter((n) => isReady(n) && !n.spec?.unschedulable).length, ready: (await pods()).filter(podReady).length, all: (await pods()).length }),
      (s) => s.nodes === 9 && s.ready === 9 && s.all === 9,
      60_000,
    );
  const plan = (fault: Record<string, unknown>, name = "f"): ReturnType<typeof planFault> =>
    planFault(Fault.parse({ name, duration: "30s", ...fault }), { runId: "test", faultName: name, target, log });

  before(async () => {
    dir = tempDir("k8s");
    const state = await clusterUp({ dir });
    k = kube(state.kubeconfig as string);
    await applyFleet(k);
    targetFile = writeClusterTarget(dir, [NS]);
    target = (await startTarget({ ref: targetFile, runDir: dir, runId: "k8s-test" })).target;
  });

  after(async () => {
    if (dir) await clusterDown({ dir });
  });

  /**
   * The fleet as made: one replica per zone. A test that moved replicas can leave two in one zone;
   * deleting the extra one lets the zone spread put its replacement back where it belongs.
   */
  const respread = async (): Promise<void> => {
    for (let round = 0; round < 5; round++) {
      await settled();
      const ps = (await pods()).filter(podReady);
      const zoneOf = new Map((await nodes()).map((n) => [n.metadata?.name, n.metadata?.labels?.[ZONE_LABEL]]));
      const seen = new Set<string>();
      const extra = ps.filter((p) => {
        const z = zoneOf.get(p.spec?.nodeName) ?? "?";
        if (seen.has(z)) return true;
        seen.add(z);
        return false;
      });
      if (extra.length === 0) return;
      for (const p of extra) await k.core.deleteNamespacedPod({ name: p.metadata?.name as string, namespace: NS, gracePeriodSeconds: 0 });
    }
    throw new Error("the fleet did not get back to one replica per zone");
  };

  afterEach(async () => {
    await respread();
  });

  it("the fleet: 9 kwok GPU nodes in 3 regions, one Ready replica per zone at a pod IP local to lo", async () => {
    const ns = await nodes();
    expect(ns.map((n) => n.metadata?.labels?.[REGION_LABEL])).to.have.members(["us-east", "us-east", "us-east", "us-west", "us-west", "us-west", "eu-west", "eu-west", "eu-west"]);
    expect(ns.every((n) => n.status?.allocatable?.["nvidia.com/gpu"] === "8")).to.equal(true);
    const ps = (await pods()).filter(podReady);
    expect(ps).to.have.length(9);
    const zones = await Promise.all(ps.map(async (p) => (await k.core.readNode({ name: p.spec?.nodeName as string })).metadata?.labels?.[ZONE_LABEL]));
    expect(new Set(zones).size, "one replica per zone").to.equal(9);
    // a block of 198.18.0.0/15 made local to lo: loopback addresses cannot be endpoints of a Service
    expect(ps.every((p) => /^198\.1[89]\./.test(p.status?.podIP ?? ""))).to.equal(true);
  });

  /** Which pod's process serves at `ip` (its x-faultline-replica header, once its model is loaded), or undefined. */
  const servedBy = async (ip: string | undefined): Promise<string | undefined> => {
    try {
      const r = await fetch(`http://${ip}:8000/readyz`, { signal: AbortSignal.timeout(500) });
      await r.arrayBuffer();
      return r.ok ? (r.headers.get("x-faultline-replica") ?? undefined) : undefined;
    } catch {
      return undefined;
    }
  };

  it("pods are backed by real processes: each replica answers at its pod IP; a killed pod's process stops, its replacement's answers", async () => {
    const ps = (await pods()).filter(podReady);
    await until("every pod's process answers at its IP", () => Promise.all(ps.map((p) => servedBy(p.status?.podIP))), (names) => names.every((n, i) => n === ps[i]?.metadata?.name));
    const east = ps.find((p) => p.metadata?.labels?.[REGION_LABEL] === "us-east") as V1Pod;
    const res = await fetch(`http://${east.status?.podIP}:8000/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "sim-7b", max_tokens: 2, messages: [{ role: "user", content: "hi" }] }) });
    expect(res.status).to.equal(200);
    expect(res.headers.get("x-faultline-region")).to.equal("us-east");
    expect(res.headers.get("x-faultline-version")).to.equal("sim-7b:v1");
    await res.arrayBuffer();

    const p = await plan({ kind: "pod-kill", selector: { matchLabels: { region: "us-east" }, count: 1 } });
    const victim = (p.targets[0] as string).split("/")[1] as string;
    const victimIp = ps.find((x) => x.metadata?.name === victim)?.status?.podIP;
    for (const a of p.actions) await a.apply();
    await until("the killed pod's process is gone", () => servedBy(victimIp), (n) => n !== victim);
    const after = await until("a replacement Ready", () => pods({ [REGION_LABEL]: "us-east" }), (xs) => xs.filter(podReady).length === 3 && !xs.some((x) => x.metadata?.name === victim));
    const fresh = after.find((x) => !ps.some((y) => y.metadata?.name === x.metadata?.name)) as V1Pod;
    await until("the replacement's process answers at its IP", () => servedBy(fresh.status?.podIP), (n) => n === fresh.metadata?.name);
  });

  it("gpu-oom execs into the chosen pod through the API server (kwok's ClusterExec runs it here): the replica runs out of GPU memory and its process restarts", async () => {
    // one step straight past capacity (the default ramp takes steps × stepEvery)
    const p = await plan({ kind: "gpu-oom", selector: { matchLabels: { region: "us-west" } }, params: { steps: 1 } });
    expect(p.targets, "one pod by default").to.have.length(1);
    const victim = (p.targets[0] as string).split("/")[1] as string;
    const ip = (await pods()).find((x) => x.metadata?.name === victim)?.status?.podIP;
    await until("the victim's process answers", () => servedBy(ip), (n) => n === victim);
    const log = join(dir, "logs", `pod-${victim}.log`);
    expect(readFileSync(log, "utf8")).not.to.match(/OOM:/);
    expect(p.actions[0]?.description).to.match(new RegExp(`^exec in inference/${victim} .*http://${ip?.replace(/\./g, "\\.")}:8000/admin/gpu-pressure`));

    for (const a of p.actions) await a.apply();
    await until("the replica ran out of GPU memory and exited", async () => readFileSync(log, "utf8"), (s) => /OOM: .*CUDA out of memory/.test(s));
    // restarted by the bridge, as the kubelet restarts a container, without the pressure
    await until("its process serves again", () => servedBy(ip), (n) => n === victim, 30_000);
    const state = (await (await fetch(`http://${ip}:8000/admin/state`)).json()) as { gpu: { pressureMiB: number } };
    expect(state.gpu.pressureMiB).to.equal(0);
    // the revert clears pressure through the same exec; it is harmless on a fresh process
    await undoBackend("kubernetes").revert(p.actions[0]!.undo);
    expect(await servedBy(ip)).to.equal(victim);

    // a user's own command (a CUDA allocation on a real node) runs instead, with ${pod} and ${podIP} filled in
    const own = await plan({ kind: "gpu-oom", selector: { matchLabels: { region: "us-west" } }, params: { command: ["sh", "-c", "echo ${pod} ${podIP} > " + join(dir, "exec-proof")] } });
    for (const a of own.actions) await a.apply();
    const target = (own.targets[0] as string).split("/")[1];
    expect(readFileSync(join(dir, "exec-proof"), "utf8").trim()).to.equal(`${target} ${(await pods()).find((x) => x.metadata?.name === target)?.status?.podIP}`);
  });

  it("gpu-xid execs an XID into the chosen pod (its GPU stops serving) and, remediated as a controller would, taints its node NoExecute: the pod moves elsewhere; the revert clears the taint", async () => {
    const p = await plan({ kind: "gpu-xid", selector: { matchLabels: { region: "us-west" } }, params: { xid: 48, remediate: "taint", remediateAfter: "0s" } });
    expect(p.targets, "one pod by default").to.have.length(1);
    expect(p.actions, "the XID, then the node's taint").to.have.length(2);
    const victim = (p.targets[0] as string).split("/")[1] as string;
    const pod = (await pods()).find((x) => x.metadata?.name === victim);
    const ip = pod?.status?.podIP;
    const node = pod?.spec?.nodeName as string;
    const [xid, taint] = p.actions as [(typeof p.actions)[0], (typeof p.actions)[0]];
    const undo = undoBackend("kubernetes");
    await xid.apply();
    // the replica's GPU reports it (its DCGM field, /readyz); its pod's eviction is the remediation, so the XID holds until reverted
    const ready = await fetch(`http://${ip}:8000/readyz`);
    expect([ready.status, await ready.text()]).to.deep.equal([503, "GPU XID 48"]);
    await taint.apply();
    expect((await k.core.readNode({ name: node })).spec?.taints?.map((t) => `${t.key}=${t.value}:${t.effect}`)).to.include(`${XID_TAINT}=48:NoExecute`);
    await until("the pod evicted, 3 us-west replicas Ready, none on the tainted node", () => pods({ [REGION_LABEL]: "us-west" }), (ps) => ps.filter(podReady).length === 3 && !ps.some((x) => x.metadata?.name === victim || x.spec?.nodeName === node), 40_000);
    expect(await undo.isActive?.(taint.undo)).to.equal(true);
    for (const a of p.actions) await undo.revert(a.undo); // the XID's pod is gone: nothing to reset there
    expect((await k.core.readNode({ name: node })).spec?.taints ?? []).to.deep.equal([]);
    expect(await undo.isActive?.(taint.undo)).to.equal(false);

    // cordoned instead, a second after the XID (as a controller reacts): the pod stays (serving nothing) and nothing new is
    // placed there; the revert uncordons and resets the GPU
    const c = await plan({ kind: "gpu-xid", selector: { matchLabels: { region: "us-west" } }, params: { remediate: "cordon", remediateAfter: "1s" } });
    const cVictim = (c.targets[0] as string).split("/")[1] as string;
    const cPod = (await pods()).find((x) => x.metadata?.name === cVictim);
    const cNode = cPod?.spec?.nodeName as string;
    expect(await undo.isActive?.(c.actions[0]!.undo), "no XID yet").to.equal(false);
    for (const a of c.actions) await a.apply();
    expect(await undo.isActive?.(c.actions[0]!.undo), "the journal's check sees the XID, by exec").to.equal(true);
    expect(await undo.isActive?.(c.actions[1]!.undo), "a cordon still to come counts as in effect").to.equal(true);
    expect((await k.core.readNode({ name: cNode })).spec?.unschedulable, "not yet").to.equal(undefined);
    await until("cordoned", async () => (await k.core.readNode({ name: cNode })).spec?.unschedulable, (u) => u === true, 5000);
    expect((await fetch(`http://${cPod?.status?.podIP}:8000/readyz`)).status).to.equal(503);
    for (const a of c.actions) await undo.revert(a.undo);
    expect((await k.core.readNode({ name: cPod?.spec?.nodeName as string })).spec?.unschedulable).to.equal(undefined);
    expect(await servedBy(cPod?.status?.podIP), "its GPU reset: it serves again").to.equal(cVictim);

    // reverted before the remediation came: it never comes
    const early = await plan({ kind: "gpu-xid", selector: { names: [cVictim] }, params: { remediate: "cordon", remediateAfter: "1s" } });
    for (const a of early.actions) await a.apply();
    for (const a of early.actions) await undo.revert(a.undo);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await k.core.readNode({ name: cNode })).spec?.unschedulable).to.equal(undefined);
  });

  it("freeze stops the chosen pod's process through exec: it accepts connections and answers nothing, until the revert resumes it", async () => {
    const p = await plan({ kind: "freeze", selector: { matchLabels: { region: "us-west" }, count: 1 } });
    expect(p.targets).to.have.length(1);
    const victim = (p.targets[0] as string).split("/")[1] as string;
    const ip = (await pods()).find((x) => x.metadata?.name === victim)?.status?.podIP;
    expect(await servedBy(ip)).to.equal(victim);
    const a = p.actions[0]!;
    const undo = undoBackend("kubernetes");
    expect(await undo.isActive?.(a.undo), "not frozen yet").to.equal(false);
    await a.apply();
    await a.verify?.(); // from inside the pod: a connection accepted, no answer in a second
    const answered = await fetch(`http://${ip}:8000/healthz`, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
    expect(answered, "a frozen replica answers nothing").to.equal(false);
    expect(await undo.isActive?.(a.undo), "frozen: the journal's check sees the process stopped").to.equal(true);
    await undo.revert(a.undo);
    expect(await servedBy(ip), "resumed").to.equal(victim);
    expect(await undo.isActive?.(a.undo)).to.equal(false);
    // its own command is refused without a revert: a freeze must be undone
    const err = await Promise.resolve()
      .then(() => plan({ kind: "freeze", selector: { matchLabels: { region: "us-west" }, count: 1 }, params: { command: ["true"] } }))
      .catch((e: unknown) => e);
    expect(String(err)).to.match(/command and revertCommand go together/);
  });

  it("Argo Rollouts runs beside the control plane: a Rollout comes up Healthy, and a new template stops at its canary step", async () => {
    // pods labelled apart from the fleet's: kwok runs them, the bridge and the gateway leave them be
    const labels = { app: "argo-probe" };
    const rollout = (version: string): Record<string, unknown> => ({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Rollout",
      metadata: { name: "argo-probe", namespace: "default" },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
        template: { metadata: { labels }, spec: { nodeSelector: { type: "kwok" }, tolerations: [{ operator: "Exists" }], containers: [{ name: "c", image: "x", env: [{ name: "V", value: version }] }] } },
      },
    });
    const ref = { group: "argoproj.io", version: "v1alpha1", namespace: "default", plural: "rollouts", name: "argo-probe" };
    type Status = { phase?: string; currentStepIndex?: number; stableRS?: string; currentPodHash?: string };
    const status = async (): Promise<Status> => ((await k.custom.getNamespacedCustomObject(ref)) as { status?: Status }).status ?? {};
    await k.custom.createNamespacedCustomObject({ ...ref, body: rollout("1") });
    try {
      const healthy = await until("the Rollout Healthy", status, (st) => st.phase === "Healthy" && st.stableRS !== undefined, 60_000);
      await k.custom.patchNamespacedCustomObject({ ...ref, body: [{ op: "replace", path: "/spec/template/spec/containers/0/env/0/value", value: "2" }] }, JSON_PATCH);
      const paused = await until("the canary at its pause", status, (st) => st.phase === "Paused" && st.currentStepIndex === 1, 60_000);
      expect(paused.currentPodHash, "a canary ReplicaSet of its own").to.not.equal(healthy.stableRS);
      expect(paused.stableRS, "the stable one kept").to.equal(healthy.stableRS);
    } finally {
      await k.custom.deleteNamespacedCustomObject(ref);
    }
  });

  it("guard rails: a fault over the blast radius, or in a namespace off the allow-list, is refused before anything changes", async () => {
    let err = await plan({ kind: "node-loss", selector: { matchLabels: { type: "kwok" } } }).catch((e: unknown) => e);
    expect(String(err)).to.match(/would hit 9 of 9 nodes \(100%\), over the target's blast radius of 50%/);
    err = await plan({ kind: "pod-kill", selector: { matchLabels: { region: "us-east" } }, params: { namespace: "kube-system" } }).catch((e: unknown) => e);
    expect(String(err)).to.match(/namespace kube-system is not in the target's allow-list \(inference\)/);
    expect((await nodes()).filter(isReady)).to.have.length(9);
  });

  it("pod-kill deletes the chosen pod; its Deployment replaces it, and there is nothing to revert", async () => {
    const before = (await pods({ [REGION_LABEL]: "us-west" })).map((p) => p.metadata?.name);
    const p = await plan({ kind: "pod-kill", selector: { matchLabels: { region: "us-west" }, count: 1 } });
    expect(p.targets).to.have.length(1);
    for (const a of p.actions) await a.apply();
    const killed = (p.targets[0] as string).split("/")[1];
    const after = await until("a replacement Ready", () => pods({ [REGION_LABEL]: "us-west" }), (ps) => ps.filter(podReady).length === 3 && !ps.some((x) => x.metadata?.name === killed));
    expect(after.map((x) => x.metadata?.name).filter((n) => !before.includes(n))).to.have.length(1);
    // a deletion stays done (a run must not read it as removed from under it), and its revert is a no-op
    expect(await undoBackend("kubernetes").isActive?.(p.actions[0]!.undo)).to.equal(true);
    await undoBackend("kubernetes").revert(p.actions[0]!.undo);
    expect((await pods({ [REGION_LABEL]: "us-west" })).filter(podReady)).to.have.length(3);
  });

  it("node-loss (not-ready): the node goes NotReady, its replica is evicted and Ready on another node; the revert brings the node back", async () => {
    const p = await plan({ kind: "node-loss", selector: { matchLabels: { zone: "us-east-b" } } });
    expect(p.targets).to.deep.equal(["gpu-us-east-b-1"]);
    const victim = (await pods({ [REGION_LABEL]: "us-east" })).find((x) => x.spec?.nodeName === "gpu-us-east-b-1")?.metadata?.name;
    const victimIp = (await pods({ [REGION_LABEL]: "us-east" })).find((x) => x.metadata?.name === victim)?.status?.podIP;
    expect(await servedBy(victimIp), "the replica answers before the loss").to.equal(victim);
    for (const a of p.actions) await a.apply();
    expect(isReady(await k.core.readNode({ name: "gpu-us-east-b-1" }))).to.equal(false);
    // its kubelet is gone: so is the process behind the pod, and the traffic it served
    await until("the lost node's replica stops answering", () => servedBy(victimIp), (n) => n !== victim);
    const moved = await until("replicas Ready elsewhere", () => pods({ [REGION_LABEL]: "us-east" }), (ps) => ps.filter((x) => podReady(x) && x.spec?.nodeName !== "gpu-us-east-b-1").length === 3, 40_000);
    expect(moved.filter(podReady).map((x) => x.metadata?.name)).to.not.include(victim);
    expect(await undoBackend("kubernetes").isActive?.(p.actions[0]!.undo)).to.equal(true);
    for (const a of p.actions) await undoBackend("kubernetes").revert(a.undo);
    await until("node Ready again", () => k.core.readNode({ name: "gpu-us-east-b-1" }), isReady);
    expect((await k.core.readNode({ name: "gpu-us-east-b-1" })).metadata?.labels?.[NOT_READY_LABEL]).to.equal(undefined);
    // as it was: kwok drops the addresses on the way back, and without its InternalIP no exec reaches the node's pods
    await new Promise((r) => setTimeout(r, 2000));
    expect((await k.core.readNode({ name: "gpu-us-east-b-1" })).status?.addresses?.map((x) => x.type)).to.include("InternalIP");
  });

  it("node-loss (drain): the node is cordoned and its pods evicted; the revert uncordons it", async () => {
    const p = await plan({ kind: "node-loss", selector: { matchLabels: { zone: "us-west-a" } }, params: { mode: "drain" } });
    for (const a of p.actions) await a.apply();
    expect((await k.core.readNode({ name: "gpu-us-west-a-1" })).spec?.unschedulable).to.equal(true);
    await until("no replica left on the drained node, 3 Ready elsewhere", () => pods({ [REGION_LABEL]: "us-west" }), (ps) => ps.filter(podReady).length === 3 && !ps.some((x) => x.spec?.nodeName === "gpu-us-west-a-1"), 40_000);
    for (const a of p.actions) await undoBackend("kubernetes").revert(a.undo);
    expect((await k.core.readNode({ name: "gpu-us-west-a-1" })).spec?.unschedulable).to.equal(undefined);
  });

  it("zone-outage and region-outage take every node with that topology label NotReady, and give them back", async () => {
    const zone = await plan({ kind: "zone-outage", selector: { matchLabels: { zone: "eu-west-c" } } });
    expect(zone.targets).to.deep.equal(["gpu-eu-west-c-1"]);
    const region = await plan({ kind: "region-outage", selector: { matchLabels: { region: "eu-west" } } }, "r");
    expect(region.targets).to.deep.equal(["gpu-eu-west-a-1", "gpu-eu-west-b-1", "gpu-eu-west-c-1"]);
    for (const a of region.actions) await a.apply();
    expect((await nodes({ [REGION_LABEL]: "eu-west" })).filter(isReady)).to.have.length(0);
    expect((await nodes()).filter(isReady)).to.have.length(6);
    for (const a of region.actions) await undoBackend("kubernetes").revert(a.undo);
    await until("eu-west Ready again", () => nodes({ [REGION_LABEL]: "eu-west" }), (ns) => ns.filter(isReady).length === 3);
    // the region's replicas had nowhere to go (the Deployment is bound to its region): they come back on its nodes
    await until("eu-west replicas Ready", () => pods({ [REGION_LABEL]: "eu-west" }), (ps) => ps.filter(podReady).length === 3, 40_000);
  });

  it("bad-rollout patches the Deployment to the new version; the revert returns to the previous ReplicaSet", async () => {
    const rsOf = async (): Promise<string | undefined> => {
      const list = await k.apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: `${REGION_LABEL}=us-west` });
      return list.items.find((rs) => (rs.status?.readyReplicas ?? 0) === 3 && rs.spec?.replicas === 3)?.metadata?.labels?.["pod-template-hash"];
    };
    const original = await until("a settled ReplicaSet", rsOf, (h) => h !== undefined);
    const p = await plan({ kind: "bad-rollout", selector: { matchLabels: { region: "us-west" } }, params: { version: "v2-bad" } });
    expect(p.targets).to.deep.equal([`${NS}/inference-us-west`]);
    for (const a of p.actions) await a.apply();
    await until("v2-bad rolled out", rsOf, (h) => h !== undefined && h !== original, 60_000);
    // the new ReplicaSet can be Ready while an old pod is still terminating: wait for it to go
    const versions = async (): Promise<(string | undefined)[]> =>
      (await pods({ [REGION_LABEL]: "us-west" })).filter(podReady).map((x) => x.spec?.containers[0]?.env?.find((e) => e.name === "MODEL_VERSION")?.value);
    await until("only v2-bad replicas serve", versions, (vs) => vs.length === 3 && vs.every((v) => v === "v2-bad"), 30_000);
    expect(await undoBackend("kubernetes").isActive?.(p.actions[0]!.undo)).to.equal(true);
    for (const a of p.actions) await undoBackend("kubernetes").revert(a.undo);
    await until("back on the previous ReplicaSet", rsOf, (h) => h === original, 60_000);
    expect(await undoBackend("kubernetes").isActive?.(p.actions[0]!.undo)).to.equal(false);
  });

  it("network-partition creates a Chaos Mesh NetworkChaos (its CRD installed) and deletes it on revert; without the CRD it says so", async () => {
    const fault = { kind: "network-partition", selector: { matchLabels: { region: "us-east" } }, params: { target: { region: "us-west" } } };
    expect(String(await plan(fault).catch((e: unknown) => e))).to.match(/the cluster has no NetworkChaos \(chaos-mesh.org\/v1alpha1\); install Chaos Mesh/);
    const ext = k.kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: loadYaml<V1CustomResourceDefinition>(readFileSync(join(ROOT, "tools/chaos-mesh-networkchaos-crd.yaml"), "utf8")) });
    await until("the NetworkChaos CRD Established", () => ext.readCustomResourceDefinition({ name: "networkchaos.chaos-mesh.org" }), (c) => c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") === true);
    const chaos = async (): Promise<{ metadata: { name: string }; spec: Record<string, unknown> }[]> =>
      ((await k.custom.listNamespacedCustomObject({ ...NETWORKCHAOS, namespace: NS })) as { items: { metadata: { name: string }; spec: Record<string, unknown> }[] }).items;
    const p = await until("the CRD served", () => plan(fault).catch(() => undefined), (x) => x !== undefined);
    expect(p!.targets).to.have.length(3);
    for (const a of p!.actions) await a.apply();
    const [nc] = await chaos();
    expect(nc?.spec).to.deep.include({
      action: "partition",
      mode: "all",
      direction: "both",
      selector: { namespaces: [NS], labelSelectors: { [REGION_LABEL]: "us-east" } },
      target: { mode: "all", selector: { namespaces: [NS], labelSelectors: { [REGION_LABEL]: "us-west" } } },
      duration: "90s",
    });
    expect(await undoBackend("kubernetes").isActive?.(p!.actions[0]!.undo)).to.equal(true);
    await undoBackend("kubernetes").revert(p!.actions[0]!.undo);
    expect(await chaos()).to.deep.equal([]);
    expect(await undoBackend("kubernetes").isActive?.(p!.actions[0]!.undo)).to.equal(false);
  });

  const runOf = (out: string): RunRecord => {
    const d = readdirSync(out)[0] as string;
    return JSON.parse(readFileSync(join(out, d, "run.json"), "utf8")) as RunRecord;
  };
  const workloads = (r: RunRecord): { t: number; ready: number }[] => r.timeline.filter((e) => e.type === "k8s.workload").map((e) => ({ t: e.t, ready: Number(e.data?.ready) }));

  it("the node-loss experiment passes on the default Deployment: the lost node's replica is Ready elsewhere", async () => {
    const out = tempDir("k8s-run");
    const r = await runCli(["run", "experiments-kubernetes/node-loss.yaml", "--target", targetFile, "--out", out, "--time-scale", "0.5"]);
    const record = runOf(out);
    expect(record.verdict, r.stderr.slice(-2000)).to.equal("pass");
    const types = record.timeline.map((e) => e.type);
    expect(types).to.include.members(["k8s.node.not-ready", "k8s.pod.deleted", "k8s.pod.scheduled", "k8s.pod.ready", "k8s.node.ready"]);
    const moved = record.assertions.find((a) => a.name === "replicas-rescheduled");
    expect(moved?.measured, moved?.message).to.be.a("number").and.to.be.above(0);
    expect((await k.core.readNode({ name: "gpu-us-east-a-1" })).metadata?.labels?.[NOT_READY_LABEL]).to.equal(undefined);
  });

  it("the node-loss experiment fails on replicas-rescheduled (and only that) when every us-east replica is pinned to one node", async () => {
    const pin = { name: "inference-us-east", namespace: NS };
    await k.apps.patchNamespacedDeployment({ ...pin, body: { spec: { template: { spec: { nodeSelector: { "kubernetes.io/hostname": "gpu-us-east-a-1" } } } } } }, MERGE);
    await until("all us-east replicas on one node", () => pods({ [REGION_LABEL]: "us-east" }), (ps) => ps.length === 3 && ps.every((x) => podReady(x) && x.spec?.nodeName === "gpu-us-east-a-1"), 60_000);
    try {
      const out = tempDir("k8s-run");
      const r = await runCli(["run", "experiments-kubernetes/node-loss.yaml", "--target", targetFile, "--out", out, "--time-scale", "0.5"]);
      const record = runOf(out);
      // the misconfigured Deployment really lost its region: Ready replicas fell by 3 and stayed down while the node was gone
      const fault = record.faults[0];
      // until the node is Ready again: the revert makes it so some 0.5 s before the fault's revertedAt
      // is stamped, and kwok's pods are Ready on it within 50 ms (a race this check once lost)
      const back = record.timeline.find((e) => e.type === "k8s.node.ready" && e.t > (fault?.injectedAt ?? 0))?.t ?? fault?.revertedAt ?? 0;
      const during = workloads(record).filter((w) => w.t > (fault?.injectedAt ?? 0) && w.t < back);
      expect(Math.min(...during.map((w) => w.ready)), "Ready replicas while the node was lost").to.equal(6);
      expect(during.at(-1)?.ready, "still 6 when the node came back").to.equal(6);
      expect(record.verdict, r.stderr.slice(-2000)).to.equal("fail");
      expect(record.assertions.filter((a) => a.verdict === "fail").map((a) => a.name)).to.deep.equal(["replicas-rescheduled"]);
    } finally {
      await k.apps.patchNamespacedDeployment({ ...pin, body: [{ op: "remove", path: "/spec/template/spec/nodeSelector/kubernetes.io~1hostname" }] }, JSON_PATCH);
    }
  });

  it("the shipped experiments run unchanged with --target kubernetes: the gateway follows the EndpointSlices as pods go and come", async () => {
    const out = tempDir("k8s-shipped");
    const before = new Set((await pods()).map((p) => p.metadata?.name));
    const files = ["node-loss", "gpu-oom", "region-partition", "hung-replica"].map((n) => `experiments/${n}.yaml`);
    // at 700 req/s: the cluster's own control plane takes ~0.15 of the two cores, and at 1,000 a slower day of the host
    // left a run inconclusive, twice (CI, 2026-12-03); what is checked here is the gateway following pods, at any rate
    const r = await runCli(["run", ...files, "--target", "kubernetes", "--out", out, "--time-scale", "0.5", "--rate-scale", "0.35"], { FAULTLINE_K8S_DIR: dir });
    const runs = readdirSync(out).filter((d) => existsSync(join(out, d, "run.json"))).map((d) => ({ d, record: JSON.parse(readFileSync(join(out, d, "run.json"), "utf8")) as RunRecord }));
    expect(runs.map((x) => x.record.experiment.name).sort()).to.deep.equal(["gpu-oom", "hung-replica", "node-loss", "region-partition"]);
    for (const { record } of runs) {
      const failed = record.assertions.filter((a) => a.verdict !== "pass").map((a) => `${a.name}: ${a.message}`);
      expect(record.verdict, `${record.experiment.name}: ${failed.join("; ")} ${r.stderr.slice(-1500)}`).to.equal("pass");
    }
    // node-loss: the lost zone's replica left its gateway slot, and the pod that replaced it elsewhere took one
    const nodeLoss = runs.find((x) => x.record.experiment.name === "node-loss") as { d: string; record: RunRecord };
    const gatewayLog = readFileSync(join(out, nodeLoss.d, "stack", "logs", "supervisor.log"), "utf8");
    expect(gatewayLog).to.match(/slot us-east-\d+ freed \(inference-us-east-\S+ at 198\.1[89]\.\S+ no longer ready\)/);
    const taken = [...gatewayLog.matchAll(/slot us-east-\d+ → (\S+) at/g)].map((m) => m[1]);
    expect(taken.filter((p) => !before.has(p)), "a rescheduled us-east pod took a slot").to.have.length.above(0);
    // gpu-oom: the exec'd ramp warned before the OOM, and the replica named us-east-1 was a pod of the cluster
    const oom = runs.find((x) => x.record.experiment.name === "gpu-oom")?.record;
    expect(oom?.faults[0]?.targets?.[0]).to.match(/^inference\/inference-us-east-/);
    // hung-replica: freeze went to the pod behind the slot named us-east-1, by exec
    const hung = runs.find((x) => x.record.experiment.name === "hung-replica")?.record;
    expect(hung?.faults[0]?.actions[0]?.description).to.match(/^freeze inference\/inference-us-east-\S+ .*SIGSTOP to the process serving/);
  });

  it("gpu-xid with node remediation passes on the cluster: GPUXidError pages, the tainted node's pod is evicted and a new one takes its gateway slot, the taint is gone afterwards", async () => {
    const out = tempDir("k8s-xid");
    // at 500 req/s: what is checked is the page, the eviction and the slot taken; at 700 a slower day of the host took
    // the p99 after recovery to 819 ms, twice running (CI, 2026-12-03), while the new pod's process started beside the load
    const r = await runCli(["run", "test/fixtures/experiments/gpu-xid-remediated.yaml", "--out", out, "--time-scale", "0.75", "--rate-scale", "0.25"], { FAULTLINE_K8S_DIR: dir });
    const d = readdirSync(out).find((x) => existsSync(join(out, x, "run.json"))) as string;
    const record = JSON.parse(readFileSync(join(out, d, "run.json"), "utf8")) as RunRecord;
    const failed = record.assertions.filter((a) => a.verdict !== "pass").map((a) => `${a.name}: ${a.message}`);
    expect(record.verdict, `${failed.join("; ")} ${r.stderr.slice(-1500)}`).to.equal("pass");
    const gatewayLog = readFileSync(join(out, d, "stack", "logs", "supervisor.log"), "utf8");
    const freed = /slot us-east-1 freed \((\S+) at/.exec(gatewayLog)?.[1];
    const next = [...gatewayLog.matchAll(/slot us-east-1 → (\S+) at/g)].map((m) => m[1]);
    expect(freed, "the XID's pod left its slot").to.be.a("string");
    expect(next.at(-1), "a new pod took the slot").to.not.equal(freed);
    expect((await nodes()).flatMap((n) => n.spec?.taints ?? []).filter((t) => t.key === XID_TAINT)).to.deep.equal([]);
  });

  it("conversations on kubernetes, their store given in the target file: a pod lost mid-conversation loses nothing; a forced Sentinel failover loses acknowledged turns and fails rpo", async () => {
    // a session store outside the cluster: a reference stack's three Redis nodes and three Sentinels on loopback
    await using store = await startStack();
    const tp = new ToxiproxyApi(store.state.endpoints.toxiproxy);
    const listen = new Map((await tp.proxies()).map((p) => [p.name, p.listen]));
    const regions = ["us-east", "us-west", "eu-west"];
    const sessions = {
      master: "faultline",
      sentinels: regions.map((r) => listen.get(`sentinel-${r}`) as string),
      natMap: Object.fromEntries(regions.map((r) => [listen.get(`redis-${r}-repl`) as string, listen.get(`redis-${r}`) as string])),
    };
    const config = { ...sessions, sentinels: sessions.sentinels.map(hostPort), natMap: Object.fromEntries(Object.entries(sessions.natMap).map(([a, b]) => [a, hostPort(b)])), waitReplicas: 1, waitTimeoutMs: 1000, commandTimeoutMs: 1000 };
    // the target file names it; the Deployments tell their pods (as a real one names its Redis)
    writeFileSync(targetFile, `${readFileSync(targetFile, "utf8")}sessions: ${JSON.stringify(sessions)}\n`);
    const deployments = (await k.apps.listNamespacedDeployment({ namespace: NS, labelSelector: `${APP_LABEL}=inference` })).items.map((d) => d.metadata?.name as string);
    const setEnv = async (value: string | null): Promise<void> => {
      for (const name of deployments) {
        await k.apps.patchNamespacedDeployment({ name, namespace: NS, body: { spec: { template: { spec: { containers: [{ name: "replica", env: [value === null ? { name: SESSION_ENV, $patch: "delete" } : { name: SESSION_ENV, value }] }] } } } } }, STRATEGIC);
      }
    };
    const SHIPPED = "test/fixtures/experiments/k8s-conversations.yaml";
    const runOnce = async (during?: () => Promise<void>): Promise<{ record: RunRecord; stderr: string; code: number | null }> => {
      const out = tempDir("k8s-sessions");
      const r = startCli(["run", SHIPPED, "--target", "kubernetes", "--out", out], { FAULTLINE_K8S_DIR: dir });
      if (during !== undefined) {
        await waitForJournal(out, "injected", 60_000);
        await during();
      }
      const { code } = await r.exit;
      const stderr = r.stderr();
      const d = readdirSync(out).find((x) => existsSync(join(out, x, "run.json")));
      if (d === undefined) throw new Error(`no run: ${stderr.slice(-2000)}`);
      return { record: JSON.parse(readFileSync(join(out, d, "run.json"), "utf8")) as RunRecord, stderr, code };
    };
    try {
      await setEnv(JSON.stringify(config));
      await settled();
      // a pod lost mid-conversation: its conversations go on elsewhere, their state in the store
      const pass = await runOnce();
      expect(pass.record.verdict, pass.stderr.slice(-2000)).to.equal("pass");
      expect(pass.record.sessions?.acknowledged, "turns acknowledged, read back from the given store").to.be.above(1000);
      expect(pass.record.sessions?.lost).to.equal(0);
      expect(pass.record.faults[0]?.targets?.[0]).to.match(/^inference\/inference-us-east-/);
      // an operator's forced failover mid-run (SENTINEL FAILOVER): until Sentinel demotes the old
      // primary, it keeps taking writes and its other replica keeps acknowledging them (WAIT 1), and
      // they are gone once it resyncs from the new one. Measured: 192 turns lost over 1.0 s.
      const fail = await runOnce(async () => {
        await new Promise((r) => setTimeout(r, 1000));
        const sentinel = new Redis({ ...hostPort(sessions.sentinels[0] as string), lazyConnect: true, maxRetriesPerRequest: 1 });
        await sentinel.connect();
        await sentinel.call("SENTINEL", "FAILOVER", "faultline");
        sentinel.disconnect();
      });
      const promoted = fail.record.timeline.filter((e) => e.type === "session.primary");
      expect(promoted, `the Sentinels' new primary in the timeline ${fail.stderr.slice(-1500)}`).to.have.length(1);
      expect(fail.record.sessions?.lost, "acknowledged turns lost to the forced failover").to.be.above(0);
      // around the failover: the Sentinels name the new primary (polled every 0.5 s) before they demote the old one,
      // which acknowledges turns until then (seen: one 61 ms after the new primary was in the timeline)
      const at = promoted[0]?.t ?? 0;
      for (const l of fail.record.sessions?.lostTurns ?? []) expect(l.t, `${l.session} turn ${l.turn}`).to.be.within(at - 5000, at + 2000);
      expect(fail.code).to.equal(1);
      expect(fail.record.assertions.filter((a) => a.verdict === "fail").map((a) => a.name)).to.deep.equal(["no-acknowledged-turn-lost"]);
    } finally {
      writeClusterTarget(dir, [NS]);
      await setEnv(null);
      await settled();
    }
  });

  it("after SIGKILL during node-loss, the node stays NotReady until `faultline recover` restores it from the journal", async () => {
    const out = tempDir("k8s-kill");
    const run = startCli(["run", "experiments-kubernetes/node-loss.yaml", "--target", targetFile, "--out", out]);
    await waitForJournal(out, "injected", 30_000);
    await until("NotReady", () => k.core.readNode({ name: "gpu-us-east-a-1" }), (n) => !isReady(n));
    run.child.kill("SIGKILL");
    await run.exit;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await k.core.readNode({ name: "gpu-us-east-a-1" })).metadata?.labels?.[NOT_READY_LABEL], "left behind by the killed run").to.equal("true");
    const rec = await runCli(["recover", "--out", out]);
    expect(rec.code, rec.stderr).to.equal(0);
    expect(rec.stdout).to.match(/1 reverted, 0 failed/);
    await until("Ready again", () => k.core.readNode({ name: "gpu-us-east-a-1" }), isReady);
    expect((await runCli(["recover", "--out", out])).stdout).to.match(/nothing to recover/);
  });
});
