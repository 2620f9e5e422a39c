import { expect } from "chai";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { retryUntil } from "../../lib/clock.ts";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import { waitForJournal } from "../helpers/cli.ts";
import { tempDir, writeExperiment, writeTarget } from "../helpers/fixtures.ts";
import { ROOT, freePort, startHttpServer, startToxiproxy } from "../helpers/servers.ts";
import type { StartedHttp, StartedToxiproxy } from "../helpers/servers.ts";

/** A node on the machine's PATH older than faultline needs (the wrapper's path), if there is one. */
function oldNode(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir.startsWith(join(ROOT, "tools"))) continue;
    const node = join(dir, "node");
    if (!existsSync(node)) continue;
    const [major, minor] = execFileSync(node, ["-p", "process.versions.node"], { encoding: "utf8" }).trim().split(".").map(Number) as [number, number];
    return major < 22 || (major === 22 && minor < 22) ? node : undefined;
  }
  return undefined;
}

/** Processes whose command line names `needle` (the test's own experiment file): what a run left running. */
function processesNaming(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
      if (cmd.includes(needle) && state !== "Z") out.push(`${pid} ${cmd.trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Whatever process the user started — npx, the re-exec wrapper on an older Node — SIGTERM, SIGINT or
 * SIGHUP sent to that process alone (a cancelled CI job, a stopped CronJob, `kill`) must reach the
 * run: every toxic reverted, the verdict `aborted`, and no faultline process left behind.
 */
describe("signals reach the runner whatever process the user started (real toxiproxy-server)", function () {
  this.timeout(120_000);
  let tp: StartedToxiproxy;
  let http: StartedHttp;
  let dir: string;
  let targetFile: string;
  let expFile: string;
  const old = oldNode();
  const pathWith = (first: string): string => [first, ...(process.env.PATH ?? "").split(delimiter).filter((d) => !d.startsWith(join(ROOT, "tools/node")))].join(delimiter);

  before(async () => {
    tp = await startToxiproxy();
    http = await startHttpServer();
    dir = tempDir("signals");
    const east = await freePort();
    targetFile = writeTarget(dir, tp.api, [{ name: "us-east-a", labels: { region: "us-east" }, listenPort: east, upstreamPort: http.port }], { gateway: `http://127.0.0.1:${east}` });
    expFile = writeExperiment(dir, {
      metadata: { name: "long-partition" },
      phases: { warmup: "0s", baseline: "300ms", recovery: "300ms" },
      faults: [{ name: "cut-east", kind: "partition", selector: { matchLabels: { region: "us-east" } }, duration: "2m" }],
    });
  });
  after(async () => {
    await http?.[Symbol.asyncDispose]();
    await tp?.stop();
  });

  const toxics = (): Promise<unknown[]> => new ToxiproxyApi(tp.api).findToxics("faultline.");

  async function signalMidFault(how: string, launch: (out: string) => ChildProcess, sig: NodeJS.Signals): Promise<void> {
    const out = join(dir, `out-${how}-${sig}`);
    const top = launch(out);
    let stderr = "";
    top.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const runDir = await waitForJournal(out, "injected", 30_000);
    await retryUntil(toxics, (t) => t.length === 2, () => new Error(`${how}: the partition's toxics never appeared`), { timeoutMs: 10_000, intervalMs: 50 });
    top.kill(sig);
    // the top process may end at once (npx does); the run must still revert and end by itself
    await retryUntil(
      async () => existsSync(join(runDir, "run.json")) && processesNaming(expFile).length === 0,
      (done) => done,
      () => new Error(`${how} ${sig}: still running 30 s after the signal: ${processesNaming(expFile).join("; ")}\n${stderr.slice(-2000)}`),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(await toxics(), `${how} ${sig}: toxics left`).to.deep.equal([]);
    const record = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as { verdict: string; reason: string };
    expect(record.verdict, `${how} ${sig}: ${record.reason}`).to.equal("aborted");
    expect(record.reason).to.match(/interrupted by SIG(INT|TERM|HUP)/);
  }

  const args = (out: string): string[] => ["run", expFile, "--target", targetFile, "--out", out];
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    it(`npx faultline run: ${sig} to npx`, () =>
      signalMidFault("npx", (out) => spawn("npx", ["--no", "faultline", ...args(out)], { cwd: ROOT, env: { ...process.env, PATH: pathWith(join(ROOT, "tools/node/bin")) }, stdio: ["ignore", "ignore", "pipe"] }), sig));

    it(`npx faultline run on the machine's older Node (npx → bash → wrapper → runner): ${sig} to npx`, function () {
      if (old === undefined) this.skip(); // the machine's node is new enough: no wrapper runs
      return signalMidFault("npx-old-node", (out) => spawn("npx", ["--no", "faultline", ...args(out)], { cwd: ROOT, env: { ...process.env, PATH: pathWith(join(old as string, "..")) }, stdio: ["ignore", "ignore", "pipe"] }), sig);
    });

    it(`node bin/faultline.js on an older Node (the re-exec wrapper): ${sig} to the wrapper`, function () {
      if (old === undefined) this.skip();
      return signalMidFault("wrapper", (out) => spawn(old as string, [join(ROOT, "bin/faultline.js"), ...args(out)], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] }), sig);
    });
  }
});
