// The supervisor of a local Kubernetes control plane: `faultline k8s up` starts it detached, in its
// own process group, so `down` (or a crash) takes every process with it.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, fetch as ufetch } from "undici";
import { parse as parseYaml } from "yaml";
import { errorMessage } from "../errors.ts";
import { Child } from "../proc/child.ts";
import { reservePorts } from "../proc/ports.ts";
import type { ClusterOptions, ClusterState } from "./cluster.ts";

if (process.argv[2] === undefined) {
  process.stderr.write("usage: cluster-main.ts DIR\n");
  process.exit(2);
}
const dir: string = process.argv[2];
const opts = JSON.parse(readFileSync(join(dir, "cluster-options.json"), "utf8")) as ClusterOptions;
// clusterUp claims the pod block before it starts this process; pod IPs anywhere else would be real addresses
if (opts.podCidr === undefined) {
  process.stderr.write("cluster-options.json has no podCidr\n");
  process.exit(2);
}
const bin = (name: string): string => join(opts.binDir, name);
const pki = join(dir, "pki");
const logs = join(dir, "logs");
const children: Child[] = [];

function writeState(s: ClusterState): void {
  writeFileSync(join(dir, "cluster.json.tmp"), JSON.stringify(s, null, 1));
  execFileSync("mv", [join(dir, "cluster.json.tmp"), join(dir, "cluster.json")]);
}

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA, a serving certificate for 127.0.0.1, the service-account key pair and an admin token. */
function makePki(): { token: string } {
  rmSync(pki, { recursive: true, force: true });
  mkdirSync(pki, { recursive: true });
  const f = (n: string): string => join(pki, n);
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "3650", "-subj", "/CN=faultline-local-ca");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("apiserver.key"), "-out", f("apiserver.csr"), "-subj", "/CN=kube-apiserver");
  writeFileSync(f("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n");
  openssl("x509", "-req", "-in", f("apiserver.csr"), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("apiserver.crt"), "-days", "3650", "-extfile", f("san.ext"));
  openssl("genrsa", "-out", f("sa.key"), "2048");
  openssl("rsa", "-in", f("sa.key"), "-pubout", "-out", f("sa.pub"));
  const token = execFileSync("openssl", ["rand", "-hex", "24"], { encoding: "utf8" }).trim();
  writeFileSync(f("tokens.csv"), `${token},faultline-admin,faultline-admin,system:masters\n`, { mode: 0o600 });
  return { token };
}

function kubeconfig(server: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: faultline-local",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority: ${join(pki, "ca.crt")}`,
    "users:",
    "- name: faultline-admin",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: faultline-local",
    "  context: { cluster: faultline-local, user: faultline-admin, namespace: default }",
    "current-context: faultline-local",
    "",
  ].join("\n");
}

function start(name: string, command: string, args: string[]): Child {
  const c = new Child({ name, command, args, logFile: join(logs, `${name}.log`) });
  c.start();
  children.push(c);
  return c;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // a process that exited will not become ready: say so at once, with its log's last lines
    const dead = children.find((c) => c.state !== "running");
    if (dead) throw new Error(`${dead.o.name} exited while waiting for ${what}: ${tail(dead.o.logFile)}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs}ms; logs in ${logs}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ").slice(-600);
  } catch {
    return `(no log at ${file})`;
  }
}

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const c of [...children].reverse()) await c.stop().catch(() => undefined);
  }
  process.exit(code);
}
process.on("SIGTERM", () => void stop(0));
process.on("SIGINT", () => void stop(0));

try {
  mkdirSync(logs, { recursive: true });
  const { token } = makePki();
  const [etcdPort, peerPort, apiPort, kwokPort, bridgePort, argoMetricsPort, argoHealthPort] = (await reservePorts(7)) as [number, number, number, number, number, number, number];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  rmSync(join(dir, "etcd"), { recursive: true, force: true });
  start("etcd", opts.etcd, [
    "--name=faultline", `--data-dir=${join(dir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=faultline=http://127.0.0.1:${peerPort}`,
    "--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
  ]);
  await waitFor("etcd", async () => (await fetch(`${etcdUrl}/health`)).ok, 20_000);

  const server = `https://127.0.0.1:${apiPort}`;
  start("kube-apiserver", bin("kube-apiserver"), [
    `--etcd-servers=${etcdUrl}`, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
    `--tls-cert-file=${join(pki, "apiserver.crt")}`, `--tls-private-key-file=${join(pki, "apiserver.key")}`,
    `--client-ca-file=${join(pki, "ca.crt")}`, `--token-auth-file=${join(pki, "tokens.csv")}`,
    "--authorization-mode=RBAC", "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${join(pki, "sa.pub")}`, `--service-account-signing-key-file=${join(pki, "sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true", "--profiling=false",
    "--enable-priority-and-fairness=false", "--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
    "--disable-admission-plugins=ServiceAccount", "--watch-cache=false", "--v=1",
    // exec and logs go to the node's "kubelet": kwok's server, at the node's InternalIP (127.0.0.1)
    "--kubelet-preferred-address-types=InternalIP", `--kubelet-certificate-authority=${join(pki, "ca.crt")}`,
  ]);
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(pki, "ca.crt")) } });
  const authed = async (path: string): Promise<boolean> => {
    const r = await ufetch(`${server}${path}`, { dispatcher, headers: { authorization: `Bearer ${token}` } });
    return r.ok;
  };

  /**
   * Argo Rollouts, the canary controller a team running inference on Kubernetes rolls models out
   * with: its CRDs, then its controller, in this process group like the rest (`k8s down` stops it).
   */
  async function startArgoRollouts(argo: { controller: string; crds: string }, api: string, kubeconfigFile: string, metricsPort: number, healthPort: number): Promise<void> {
    for (const f of readdirSync(argo.crds).filter((x) => x.endsWith(".yaml")).sort()) {
      const crd = parseYaml(readFileSync(join(argo.crds, f), "utf8")) as { metadata: { name: string } };
      const r = await ufetch(`${api}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
        dispatcher,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(crd),
      });
      if (!r.ok && r.status !== 409) throw new Error(`installing ${f}: ${r.status} ${(await r.text()).slice(0, 300)}`);
      await r.arrayBuffer().catch(() => undefined);
    }
    await waitFor("Argo Rollouts' CRDs", () => authed("/apis/argoproj.io/v1alpha1/rollouts"), 30_000);
    start("rollouts-controller", argo.controller, [
      `--kubeconfig=${kubeconfigFile}`, "--leader-elect=false", `--metricsport=${metricsPort}`, `--healthzPort=${healthPort}`, "--loglevel=info", "--kloglevel=0",
    ]);
    await waitFor("rollouts-controller", async () => (await ufetch(`http://127.0.0.1:${healthPort}/healthz`)).ok, 60_000);
  }
  await waitFor("kube-apiserver", () => authed("/readyz"), 90_000);

  const kc = join(dir, "kubeconfig");
  writeFileSync(kc, kubeconfig(server, token), { mode: 0o600 });
  start("kube-controller-manager", bin("kube-controller-manager"), [
    `--kubeconfig=${kc}`, "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
    `--service-account-private-key-file=${join(pki, "sa.key")}`, `--root-ca-file=${join(pki, "ca.crt")}`,
    "--use-service-account-credentials=false", "--controllers=*,-serviceaccount-token,-bootstrapsigner,-tokencleaner",
    `--node-monitor-grace-period=${opts.nodeMonitorGraceSeconds}s`, "--node-monitor-period=1s",
    "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--kube-api-qps=500", "--kube-api-burst=1000", "--v=1",
  ]);
  start("kube-scheduler", bin("kube-scheduler"), [
    `--kubeconfig=${kc}`, "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--kube-api-qps=500", "--kube-api-burst=1000", "--v=1",
  ]);
  // kwok's ClusterExec: `exec` into any simulated pod runs the command here, on this machine
  const execConfig = join(dir, "kwok-exec.yaml");
  writeFileSync(execConfig, "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterExec\nmetadata:\n  name: local-commands\nspec:\n  execs:\n  - local: {}\n");
  start("kwok", bin("kwok"), [
    `--kubeconfig=${kc}`, `--config=${opts.kwokConfig}`, `--config=${execConfig}`, "--manage-all-nodes=false",
    // its server is every node's kubelet endpoint (nodes report this port), serving TLS with the API server's certificate
    `--server-address=127.0.0.1:${kwokPort}`, `--node-port=${kwokPort}`,
    `--tls-cert-file=${join(pki, "apiserver.crt")}`, `--tls-private-key-file=${join(pki, "apiserver.key")}`,
    `--manage-nodes-with-annotation-selector=${opts.kwokAnnotation}`,
    `--cidr=${opts.podCidr}`, "--node-ip=127.0.0.1", `--node-lease-duration-seconds=${opts.nodeLeaseSeconds}`, "--v=1",
  ]);
  // the controller manager is up once it has made the default service account's namespace objects
  await waitFor("kube-controller-manager", () => authed("/api/v1/namespaces/default/serviceaccounts/default"), 60_000);
  if (opts.argoRollouts !== false) await startArgoRollouts(opts.argoRollouts, server, kc, argoMetricsPort, argoHealthPort);
  // real replica processes at the inference pods' IPs
  start("bridge", process.execPath, [fileURLToPath(new URL("./bridge-main.ts", import.meta.url)), dir, String(bridgePort)]);
  writeState({ ready: true, pid: process.pid, server, kubeconfig: kc, token, ca: join(pki, "ca.crt"), ports: { etcd: etcdPort, apiserver: apiPort, bridgeMetrics: bridgePort, ...(opts.argoRollouts !== false ? { argoRolloutsMetrics: argoMetricsPort } : {}) }, logs });
  process.stderr.write(`cluster ready: ${server}\n`);
} catch (err) {
  process.stderr.write(`cluster failed to start: ${errorMessage(err)}\n`);
  writeState({ ready: false, pid: process.pid, error: errorMessage(err), logs });
  await stop(1);
}
