import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { AssertionResult, RunRecord } from "../../lib/schema/run-record.ts";

/** A fresh folder inside this run's (test/helpers/setup.ts), or the system's temporary folder without one. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env.FAULTLINE_TEST_RUN_DIR ?? tmpdir(), `faultline-${prefix}-`));
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

/**
 * A few seconds' experiment for a built-in target: 100 ms more on us-east's paths for 2 s, the
 * gateway's probe must keep answering. Enough to prove a target starts, injects and stops.
 */
export function slowEast(target: string): Record<string, unknown> {
  return {
    metadata: { name: "slow-east" },
    target,
    phases: { warmup: "0s", baseline: "1s", recovery: "1s" },
    steadyState: { probes: [{ name: "gw", endpoint: "gateway", path: "/readyz", every: "200ms", timeout: "1s" }] },
    faults: [{ name: "slow", kind: "latency", selector: { matchLabels: { region: "us-east" } }, duration: "2s", params: { latency: "100ms" } }],
    assertions: [{ kind: "probe", name: "answers", probe: "gw", during: "fault", minSuccessRate: 0.9 }],
  };
}

/** A run record that recorded nothing, with `over` laid on top: for tests that judge, compare or render records. */
export function runRecord(over: Partial<RunRecord> = {}): RunRecord {
  return { schemaVersion: 1, runId: "r", experiment: { name: "e" }, target: { name: "t" }, startedAt: 0, endedAt: 1, timeScale: 1, phases: [], faults: [], assertions: [], timeline: [], series: { probes: {} }, ...over };
}

/** A judged check that passed with nothing measured, with `over` laid on top. */
export function checkResult(over: Partial<AssertionResult>): AssertionResult {
  return { name: "x", kind: "slo", verdict: "pass", measured: null, limit: 0, window: { start: 0, end: 1 }, message: "", evidence: [], ...over };
}
