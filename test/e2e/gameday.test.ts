import { expect } from "chai";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { retryUntil } from "../../lib/clock.ts";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir, writeExperiment, writeTarget } from "../helpers/fixtures.ts";
import { ROOT, freePort, startHttpServer, startToxiproxy } from "../helpers/servers.ts";
import type { StartedHttp, StartedToxiproxy } from "../helpers/servers.ts";

/**
 * `faultline gameday` driven as an operator drives it, through a pseudo-terminal (util-linux
 * `script` allocates one): it confirms the first step, types a note while it runs, declines the
 * second — and the consolidated report says so. Steps run against a real toxiproxy-server.
 */
describe("gameday through a pseudo-terminal (real toxiproxy-server)", function () {
  this.timeout(90_000);
  let tp: StartedToxiproxy;
  let http: StartedHttp;
  let dir: string;
  let planFile: string;

  before(async () => {
    tp = await startToxiproxy();
    http = await startHttpServer();
    dir = tempDir("gameday");
    const port = await freePort();
    const target = writeTarget(dir, tp.api, [{ name: "svc-east", labels: { region: "us-east" }, listenPort: port, upstreamPort: http.port }], { gateway: `http://127.0.0.1:${port}` });
    const exp = (name: string): string =>
      writeExperiment(
        dir,
        {
          metadata: { name },
          phases: { warmup: "0s", baseline: "500ms", recovery: "500ms" },
          steadyState: { probes: [{ name: "gw", endpoint: "gateway", every: "100ms", timeout: "2s" }] },
          faults: [{ name: "slow-east", kind: "latency", selector: { matchLabels: { region: "us-east" } }, duration: "3s", params: { latency: "200ms" } }],
          assertions: [{ kind: "probe", name: "answers", probe: "gw", during: "fault", minSuccessRate: 0.9 }],
        },
        `${name}.yaml`,
      );
    planFile = join(dir, "plan.yaml");
    writeFileSync(
      planFile,
      stringify({
        apiVersion: "faultline.dev/v1",
        kind: "GameDay",
        metadata: { name: "rehearsal" },
        title: "Rehearsal",
        owners: ["alice", "bob"],
        target: target,
        steps: [
          { experiment: exp("slow-east"), title: "us-east slows down", owner: "alice", hypothesis: "the gateway keeps answering", expectAlerts: ["HighP99Latency"] },
          { experiment: exp("slow-east-again"), title: "us-east slows down again", owner: "bob", hypothesis: "still answering" },
        ],
      }),
    );
  });

  after(async () => {
    await http?.[Symbol.asyncDispose]();
    await tp?.stop();
  });

  it("confirms one step, adds a note, declines another; the consolidated report has both", async () => {
    const out = join(dir, "reports");
    const cmd = [process.execPath, join(ROOT, "bin/faultline.js"), "gameday", planFile, "--out", out].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT, env: { ...process.env, TERM: "dumb" }, stdio: ["pipe", "pipe", "pipe"] });
    let screen = "";
    child.stdout.on("data", (d: Buffer) => (screen += d.toString()));
    child.stderr.on("data", (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
    const see = (re: RegExp, after = 0): Promise<unknown> =>
      retryUntil(async () => re.test(screen.slice(after)), (x) => x, () => new Error(`never saw ${re} on the terminal:\n${screen.slice(-3000)}`), { timeoutMs: 30_000, intervalMs: 50 });

    await see(/step 1\/2: us-east slows down \(alice\)/);
    await see(/slow-east \(latency\) at \+0s for 3s hits 1: svc-east/);
    await see(/inject now\? \[y\/N\]/);
    child.stdin.write("y\n");
    await see(/confirmed; type a line at any time/);
    await retryUntil(async () => (await new ToxiproxyApi(tp.api).findToxics("faultline.")).length, (n) => n > 0, () => new Error("the confirmed step never injected"), { timeoutMs: 10_000, intervalMs: 50 });
    child.stdin.write("p99 on the east dashboard is up\n");
    await see(/note added: p99 on the east dashboard is up/);
    const mark = screen.length;
    await see(/inject now\? \[y\/N\]/, mark);
    child.stdin.write("n\n");
    await see(/declined: nothing is injected in this step/);
    expect(await exited, screen.slice(-2000)).to.equal(0);

    const gd = join(out, readdirSync(out).find((d) => d.includes("gameday-rehearsal")) as string);
    const md = readFileSync(join(gd, "gameday.md"), "utf8");
    expect(md).to.match(/\| ✅ \| 1\. us-east slows down \| alice \| pass \|/);
    expect(md).to.match(/\| 🚫 \| 2\. us-east slows down again \| bob \| declined \|/);
    expect(md).to.match(/\| ✗ HighP99Latency \|/); // expected, and it did not fire: the report says so
    expect(md).to.match(/Notes:\n- \d\d:\d\d:\d\d p99 on the east dashboard is up/);
    const html = readFileSync(join(gd, "gameday.html"), "utf8");
    expect(html).to.contain("p99 on the east dashboard is up");
    expect(html).to.contain('<section class="step declined" id="step-2">');
    // the note is in the first step's own timeline too; the declined step injected nothing
    const runs = readdirSync(gd).filter((d) => d.includes("slow-east"));
    const records = runs.map((d) => JSON.parse(readFileSync(join(gd, d, "run.json"), "utf8")) as RunRecord);
    const first = records.find((r) => r.experiment.name === "slow-east");
    const second = records.find((r) => r.experiment.name === "slow-east-again");
    expect(first?.timeline.filter((e) => e.type === "note").map((e) => e.message)).to.deep.equal(["p99 on the east dashboard is up"]);
    expect(second?.verdict).to.equal("aborted");
    expect(second?.timeline.some((e) => e.type === "fault.injected")).to.equal(false);
    expect(await new ToxiproxyApi(tp.api).findToxics("faultline.")).to.deep.equal([]);
  });

  it("without a terminal it refuses unless --yes", async () => {
    const r = await runCli(["gameday", planFile, "--out", join(dir, "no-tty")]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/run it in a terminal, or pass --yes/);
    const yes = await runCli(["gameday", planFile, "--yes", "--out", join(dir, "yes")]);
    expect(yes.code, yes.stderr.slice(-1500)).to.equal(0);
    expect(yes.stdout).to.match(/confirmed by --yes[\s\S]*confirmed by --yes/);
  });
});
