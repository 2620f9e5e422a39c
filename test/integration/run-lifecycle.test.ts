import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ToxiproxyApi } from "../../lib/clients/toxiproxy.ts";
import { journalTypes, runCli, startCli, waitFor, waitForJournal } from "../helpers/cli.ts";
import { tempDir, writeExperiment, writeTarget } from "../helpers/fixtures.ts";
import { freePort, startHttpServer, startToxiproxy } from "../helpers/servers.ts";
import type { StartedHttp, StartedToxiproxy } from "../helpers/servers.ts";

/**
 * The promise that matters most: whatever happens to a run — SIGKILL, SIGINT, its backend
 * vanishing — no fault stays behind, and the journal says what happened.
 */
describe("run lifecycle: nothing is left behind (real toxiproxy-server, the CLI as a user runs it)", function () {
  this.timeout(60_000);
  let tp: StartedToxiproxy;
  let http: StartedHttp;
  let dir: string;
  let targetFile: string;
  let expFile: string;

  beforeEach(async () => {
    tp = await startToxiproxy();
    http = await startHttpServer();
    dir = tempDir("lifecycle");
    const [east, west] = [await freePort(), await freePort()];
    targetFile = writeTarget(
      dir,
      tp.api,
      [
        { name: "us-east-a", labels: { region: "us-east" }, listenPort: east, upstreamPort: http.port },
        { name: "us-west-a", labels: { region: "us-west" }, listenPort: west, upstreamPort: http.port },
      ],
      { gateway: `http://127.0.0.1:${west}`, east: `http://127.0.0.1:${east}` },
    );
    expFile = writeExperiment(dir, {
      metadata: { name: "long-partition" },
      phases: { baseline: "300ms", recovery: "300ms" },
      steadyState: { probes: [{ name: "gw", endpoint: "gateway", every: "100ms", timeout: "500ms" }] },
      faults: [{ name: "cut-east", kind: "partition", selector: { matchLabels: { region: "us-east" } }, duration: "2m" }],
    });
  });
  afterEach(async () => {
    await http?.[Symbol.asyncDispose]();
    await tp?.stop();
  });

  const toxics = (): Promise<{ proxy: string; toxic: string }[]> => new ToxiproxyApi(tp.api).findToxics("faultline.");

  it("after SIGKILL during a partition, recover removes every toxic from the journal alone and exits 0; a second recover does nothing", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    const runDir = await waitForJournal(out, "injected");
    await waitFor(async () => (await toxics()).length === 2);
    run.child.kill("SIGKILL");
    expect((await run.exit).signal).to.equal("SIGKILL");
    const left = await toxics();
    expect(left.map((t) => t.proxy)).to.deep.equal(["us-east-a", "us-east-a"]);
    expect(left[0]?.toxic).to.contain(runDir.split("/").at(-1));

    const first = await runCli(["recover", "--out", out]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/2 reverted, 0 failed/);
    expect(await toxics()).to.deep.equal([]);
    expect(journalTypes(runDir).filter((t) => t === "reverted")).to.have.length(2);

    const second = await runCli(["recover", "--out", out]);
    expect(second.code).to.equal(0);
    expect(second.stdout).to.match(/nothing to recover/);
  });

  it("recover leaves a run that is still alive to itself, says so with its pid, and --force reverts it now", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    await waitForJournal(out, "injected");
    await waitFor(async () => (await toxics()).length === 2);
    const polite = await runCli(["recover", "--out", out]);
    expect(polite.code, polite.stderr).to.equal(0);
    expect(polite.stdout).to.match(new RegExp(`still running as pid ${run.child.pid} on this host.*kill -TERM ${run.child.pid}.*faultline recover --force`));
    expect(polite.stdout).to.match(/1 run\(s\) still running with faults injected/);
    expect(polite.stdout).to.not.match(/nothing to recover/);
    expect(await toxics()).to.have.length(2);
    const forced = await runCli(["recover", "--out", out, "--force"]);
    expect(forced.stdout).to.match(/2 reverted, 0 failed/);
    expect(await toxics()).to.deep.equal([]);
    // the run finds its fault gone from under it: an error, not a pass
    expect((await run.exit).code).to.equal(4);
  });

  it("a new run first reverts what a killed run left behind", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    await waitForJournal(out, "injected");
    await waitFor(async () => (await toxics()).length === 2);
    run.child.kill("SIGKILL");
    await run.exit;
    expect(await toxics()).to.have.length(2);
    const shortExp = writeExperiment(dir, { metadata: { name: "no-faults" }, phases: { baseline: "100ms", recovery: "100ms" } }, "short.yaml");
    const next = await runCli(["run", shortExp, "--target", targetFile, "--out", out]);
    expect(next.code, next.stderr).to.equal(0);
    expect(next.stderr).to.match(/reverted 2 action\(s\) left by/);
    expect(await toxics()).to.deep.equal([]);
  });

  it("sweep finds faultline's toxics by name even without a journal", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    const runDir = await waitForJournal(out, "injected");
    await waitFor(async () => (await toxics()).length === 2);
    run.child.kill("SIGKILL");
    await run.exit;
    const { rmSync } = await import("node:fs");
    rmSync(runDir, { recursive: true });
    const r = await runCli(["recover", "--out", out, "--sweep", "--toxiproxy", tp.api]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.match(/swept/g)).to.have.length(2);
    expect(await toxics()).to.deep.equal([]);
  });

  it("SIGINT during a fault reverts it by itself and ends `aborted` (exit 3)", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    const runDir = await waitForJournal(out, "injected");
    run.child.kill("SIGINT");
    const { code } = await run.exit;
    expect(code, run.stderr()).to.equal(3);
    expect(await toxics()).to.deep.equal([]);
    const record = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as { verdict: string; reason: string };
    expect(record.verdict).to.equal("aborted");
    expect(record.reason).to.match(/SIGINT/);
    const types = journalTypes(runDir);
    expect(types.filter((t) => t === "reverted")).to.have.length(2);
    expect(types.at(-1)).to.equal("run-end");
  });

  it("SIGTERM does the same", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    await waitForJournal(out, "injected");
    run.child.kill("SIGTERM");
    expect((await run.exit).code).to.equal(3);
    expect(await toxics()).to.deep.equal([]);
  });

  it("when Toxiproxy disappears mid-experiment the verdict is error (exit 4), naming what failed, and the journal records what could not be reverted", async () => {
    const out = join(dir, "reports");
    const run = startCli(["run", expFile, "--target", targetFile, "--out", out]);
    const runDir = await waitForJournal(out, "injected");
    await waitFor(async () => (await toxics()).length === 2);
    await tp.stop();
    const { code } = await run.exit;
    expect(code, run.stderr()).to.equal(4);
    expect(run.stderr()).to.match(/ERROR/);
    const record = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as { verdict: string; reason: string };
    expect(record.verdict).to.equal("error");
    expect(record.reason).to.match(/lost contact with the fault backend of cut-east: toxiproxy: .* at http:\/\/127\.0\.0\.1:\d+ failed/);
    expect(record.reason).to.match(/could not revert 2 action\(s\)/);
    expect(journalTypes(runDir).filter((t) => t === "revert-failed")).to.have.length(2);
  });
});
