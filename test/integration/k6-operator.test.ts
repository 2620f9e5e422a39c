import { ApiextensionsV1Api, PatchStrategy, loadYaml, setHeaderOptions } from "@kubernetes/client-node";
import type { V1CustomResourceDefinition } from "@kubernetes/client-node";
import { expect } from "chai";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { retryUntil } from "../../lib/clock.ts";
import { kube } from "../../lib/clients/kubernetes.ts";
import type { Kube } from "../../lib/clients/kubernetes.ts";
import { clusterDown, clusterUp } from "../../lib/k8s/cluster.ts";
import { K6OperatorLoadEngine, TESTRUN } from "../../lib/load/k6-operator.ts";
import type { ResolvedLoad } from "../../lib/load/types.ts";
import { DEFAULT_MIX } from "../../lib/load/types.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { ROOT, freePort, startHttpServer } from "../helpers/servers.ts";
import type { StartedHttp } from "../helpers/servers.ts";

const NS = "loadtest";
const MERGE = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * Distributed load through the k6-operator, against the real API server with the operator's own
 * TestRun CRD (from its pinned module) installed. The operator does not run here: the test plays
 * it — it reads the objects faultline created, runs the ConfigMap's script with a real k6 as one
 * runner would (pushing to a real Prometheus), and moves the TestRun's status through its stages.
 */
describe("load through the k6-operator (real API server with the TestRun CRD; real k6 and Prometheus as the runner)", function () {
  this.timeout(120_000);
  let dir: string;
  let k: Kube;
  let http: StartedHttp;
  let prom: ChildProcess;
  let promUrl: string;

  before(async () => {
    dir = tempDir("k6op");
    const state = await clusterUp({ dir });
    k = kube(state.kubeconfig as string);
    // loadYaml, not a plain parse: the client's model renames keys such as x-kubernetes-int-or-string
    const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(join(ROOT, "tools/k6-operator-testruns-crd.yaml"), "utf8"));
    const ext = k.kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd });
    await retryUntil(
      () => ext.readCustomResourceDefinition({ name: "testruns.k6.io" }),
      (c) => c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") === true,
      () => new Error("the TestRun CRD never became Established"),
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    await k.core.createNamespace({ body: { metadata: { name: NS } } });
    http = await startHttpServer();
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(join(dir, "prometheus.yml"), "global:\n  scrape_interval: 1m\n");
    prom = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`, "--web.enable-remote-write-receiver", "--enable-feature=native-histograms", "--log.level=error"], { stdio: "ignore" });
    await retryUntil(async () => (await fetch(`${promUrl}/-/ready`)).ok, (x) => x, () => new Error("prometheus not ready"), { timeoutMs: 20_000, intervalMs: 100 });
  });

  after(async () => {
    prom?.kill("SIGTERM");
    await http?.[Symbol.asyncDispose]();
    if (dir) await clusterDown({ dir });
  });

  const load = (): ResolvedLoad => ({ baseUrl: `http://127.0.0.1:${http.port}`, rate: 40, durationMs: 3000, maxInFlight: 100, timeoutMs: 2000, mix: DEFAULT_MIX });
  const testRuns = async (): Promise<{ metadata: { name: string }; spec: Record<string, unknown> }[]> =>
    ((await k.custom.listNamespacedCustomObject({ ...TESTRUN, namespace: NS })) as { items: { metadata: { name: string }; spec: Record<string, unknown> }[] }).items;
  const setStage = (name: string, stage: string, extra: Record<string, unknown> = {}): Promise<unknown> =>
    k.custom.patchNamespacedCustomObjectStatus({ ...TESTRUN, namespace: NS, name, body: { status: { stage, ...extra } } }, MERGE);

  it("creates the script's ConfigMap and a TestRun with parallelism N, follows its stages to finished, reads the runners' results, and deletes both", async () => {
    const stages: string[] = [];
    const engine = new K6OperatorLoadEngine({ kube: k, namespace: NS, parallelism: 4, prometheus: promUrl, pollMs: 100, onStage: (s) => stages.push(s) });
    const run = await engine.start(load());
    const [tr] = await testRuns();
    expect(tr, "a TestRun").to.not.equal(undefined);
    const name = tr!.metadata.name;
    expect(tr!.spec).to.deep.include({ parallelism: 4, script: { configMap: { name: `${name}-script`, file: "load.js" } }, separate: false });
    expect(String(tr!.spec.arguments)).to.contain(`--out experimental-prometheus-rw --tag faultline_load=${name}`);
    const env = (tr!.spec.runner as { env: { name: string; value: string }[] }).env;
    expect(env).to.deep.include({ name: "K6_PROMETHEUS_RW_SERVER_URL", value: `${promUrl}/api/v1/write` });
    const cm = await k.core.readNamespacedConfigMap({ name: `${name}-script`, namespace: NS });
    const script = cm.data?.["load.js"] as string;
    expect(script).to.contain('executor":"constant-arrival-rate"');

    // the operator's part: initialise, start one runner with the mounted script, finish
    await setStage(name, "initialization");
    await setStage(name, "started", { testRunId: "local-1" });
    writeFileSync(join(dir, "load.js"), script);
    const runner = spawn(join(ROOT, "tools/bin/k6"), ["run", "--quiet", "--no-usage-report", ...String(tr!.spec.arguments).split(" "), join(dir, "load.js")], {
      env: { ...process.env, ...Object.fromEntries(env.map((e) => [e.name, e.value])) },
      stdio: "ignore",
    });
    expect(await new Promise((r) => runner.once("close", r)), "the runner's k6 exit code").to.equal(0);
    await setStage(name, "finished");
    const series = await run.done;

    expect(stages).to.include("started");
    expect(stages.at(-1)).to.equal("finished");
    const ok = series.buckets.reduce((s, b) => s + b.outcomes.ok, 0);
    expect(series.engine).to.equal("k6-operator");
    expect(ok, "requests the runner made, read back from Prometheus").to.be.within(80, 160);
    expect(await testRuns()).to.deep.equal([]);
    expect((await k.core.listNamespacedConfigMap({ namespace: NS, labelSelector: "app.kubernetes.io/managed-by=faultline" })).items).to.deep.equal([]);
  });

  it("a TestRun that ends in error fails the load with the operator's conditions, and is cleaned up", async () => {
    const engine = new K6OperatorLoadEngine({ kube: k, namespace: NS, parallelism: 2, prometheus: promUrl, pollMs: 100 });
    const run = await engine.start(load());
    const [tr] = await testRuns();
    await setStage(tr!.metadata.name, "error", {
      conditions: [{ type: "TestRunRunning", status: "False", reason: "RunnerFailed", message: "runner 2 OOMKilled", lastTransitionTime: new Date().toISOString() }],
    });
    const err = await run.done.catch((e: unknown) => e);
    expect(String(err)).to.match(/TestRun faultline-load-\w+ ended in error: TestRunRunning=False: runner 2 OOMKilled/);
    expect(await testRuns()).to.deep.equal([]);
  });

  it("stopping the load early deletes the TestRun, which stops its runners", async () => {
    const engine = new K6OperatorLoadEngine({ kube: k, namespace: NS, parallelism: 2, prometheus: promUrl, pollMs: 100 });
    const run = await engine.start(load());
    expect(await testRuns()).to.have.length(1);
    await run.stop();
    expect(await testRuns()).to.deep.equal([]);
  });
});
