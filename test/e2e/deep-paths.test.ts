import { expect } from "chai";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { runCli } from "../helpers/cli.ts";
import { slowEast, tempDir, writeExperiment } from "../helpers/fixtures.ts";

/**
 * A checkout or an --out folder deep in the file system must not matter: a game day nests each
 * step's run folder in its own, and UNIX socket paths are limited to 108 bytes (HAProxy's stats
 * socket once sat in the run folder). Both commands run from a 150-character working folder on the
 * local target, as a user in a deep checkout types them.
 */
describe("deep paths: gameday and run from a 150-character folder (local stack)", function () {
  this.timeout(180_000);
  let deep: string;

  before(() => {
    deep = join(tempDir("deep"), ...Array.from({ length: 8 }, (_, i) => `folder-${i}-${"x".repeat(10)}`));
    expect(deep.length).to.be.at.least(150);
    mkdirSync(join(deep, "experiments"), { recursive: true });
    writeExperiment(join(deep, "experiments"), slowEast("local"), "slow-east.yaml");
    writeFileSync(
      join(deep, "plan.yaml"),
      stringify({ apiVersion: "faultline.dev/v1", kind: "GameDay", metadata: { name: "deep" }, title: "Deep", owners: ["sre"], steps: [{ experiment: "experiments/slow-east.yaml", title: "us-east slows", hypothesis: "answers" }] }),
    );
  });

  it("gameday --yes runs its step, though the step's stack folder is past the socket limit", async () => {
    const r = await runCli(["gameday", "plan.yaml", "--yes", "--out", "reports"], {}, deep);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/step 1: PASS/);
    const day = join(deep, "reports", readdirSync(join(deep, "reports")).find((d) => d.includes("gameday")) as string);
    const step = readdirSync(day).find((d) => d.includes("slow-east")) as string;
    // where the socket used to be: more than sun_path holds
    expect(join(day, step, "stack", "haproxy.sock").length).to.be.above(108);
    expect(JSON.parse(readFileSync(join(day, step, "run.json"), "utf8")).verdict).to.equal("pass");
  });

  it("run --out a folder below the 150-character one", async () => {
    const r = await runCli(["run", "experiments/slow-east.yaml", "--out", join(deep, "runs", "of", "today")], {}, deep);
    expect(r.code, r.stderr).to.equal(0);
  });
});
