import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `faultline-${prefix}-`));
}

export interface ProxyDef {
  name: string;
  labels: Record<string, string>;
  listenPort: number;
  upstreamPort: number;
}

/** Writes a Target file for a real toxiproxy-server and the proxies in front of real servers. */
export function writeTarget(dir: string, toxiproxyApi: string, proxies: ProxyDef[], endpoints: Record<string, string>): string {
  const file = join(dir, "target.yaml");
  writeFileSync(
    file,
    stringify({
      apiVersion: "faultline.dev/v1",
      kind: "Target",
      metadata: { name: "test" },
      endpoints: Object.fromEntries(Object.entries(endpoints).map(([k, url]) => [k, { url }])),
      toxiproxy: {
        api: toxiproxyApi,
        proxies: proxies.map((p) => ({
          name: p.name,
          labels: p.labels,
          listen: `127.0.0.1:${p.listenPort}`,
          upstream: `127.0.0.1:${p.upstreamPort}`,
        })),
      },
    }),
  );
  return file;
}

export function writeExperiment(dir: string, doc: Record<string, unknown>, name = "experiment.yaml"): string {
  const file = join(dir, name);
  writeFileSync(file, stringify({ apiVersion: "faultline.dev/v1", kind: "Experiment", ...doc }));
  return file;
}
