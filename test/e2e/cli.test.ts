import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { runCli } from "../helpers/cli.ts";

describe("cli: as a user types it", function () {
  this.timeout(30_000);

  it("validate experiments/ exits 0: the shipped library is valid", async () => {
    const r = await runCli(["validate", "experiments/"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/ok {3}experiments\/region-partition\.yaml \(Experiment region-partition\)/);
    expect(r.stdout).to.match(/\d+ valid, 0 invalid/);
  });

  it("every shipped YAML file names the schema for editors", () => {
    const files = readdirSync("experiments").filter((f) => f.endsWith(".yaml"));
    expect(files.length).to.be.at.least(6);
    for (const f of files) {
      expect(readFileSync(`experiments/${f}`, "utf8").split("\n")[0], f).to.equal("# yaml-language-server: $schema=../schemas/experiment.schema.json");
    }
  });

  it("a file with three mistakes exits 2 with three file:line:col lines and no stack trace", async () => {
    const r = await runCli(["validate", "test/fixtures/invalid/three-mistakes.yaml"]);
    expect(r.code).to.equal(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).to.have.length(3);
    for (const l of lines) expect(l).to.match(/^test\/fixtures\/invalid\/three-mistakes\.yaml:\d+:\d+: \S+: /);
    expect(r.stderr).to.not.match(/^\s+at /m);
  });

  it("run refuses an invalid experiment with exit 2 before touching anything", async () => {
    const r = await runCli(["run", "test/fixtures/invalid/three-mistakes.yaml", "--target", "nope.yaml"]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/three-mistakes\.yaml:11:5/);
  });

  it("a missing file is a clear error, exit 2", async () => {
    const r = await runCli(["validate", "does-not-exist.yaml"]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/no such file or folder: does-not-exist\.yaml/);
  });

  it("schema prints a JSON Schema; --version and --help work", async () => {
    const s = await runCli(["schema", "--kind", "target"]);
    expect((JSON.parse(s.stdout) as { title: string }).title).to.equal("faultline target");
    const v = await runCli(["--version"]);
    expect(v.stdout.trim()).to.match(/^\d+\.\d+\.\d+$/);
    const h = await runCli(["run", "--help"]);
    expect(h.stdout).to.match(/--time-scale/);
    const bad = await runCli(["frobnicate"]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/unknown command 'frobnicate'/);
  });
});
