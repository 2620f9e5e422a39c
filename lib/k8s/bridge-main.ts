// The pod bridge of a local cluster: started by the cluster supervisor, in its process group, so
// `faultline k8s down` stops it and every replica process it runs.
import { join } from "node:path";
import { errorMessage } from "../errors.ts";
import { PodBridge } from "./bridge.ts";
import { APP_LABEL, kube } from "../clients/kubernetes.ts";
import { DEFAULT_FLEET } from "./fleet.ts";

const dir = process.argv[2];
const metricsPort = Number(process.argv[3] ?? 0);
if (dir === undefined) {
  process.stderr.write("usage: bridge-main.ts CLUSTER_DIR [METRICS_PORT]\n");
  process.exit(2);
}
const bridge = new PodBridge(kube(join(dir, "kubeconfig")), {
  namespace: DEFAULT_FLEET.namespace,
  labels: { [APP_LABEL]: "inference" },
  logDir: join(dir, "logs"),
  onChange: (line) => void process.stderr.write(`${new Date().toISOString()} ${line}\n`),
});
const stop = (): void => void bridge.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
try {
  await bridge.start();
  if (metricsPort > 0) await bridge.serveMetrics(metricsPort);
  process.stderr.write(`bridge: watching ${DEFAULT_FLEET.namespace} pods\n`);
} catch (err) {
  process.stderr.write(`bridge failed: ${errorMessage(err)}\n`);
  process.exit(1);
}
