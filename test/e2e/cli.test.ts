import { expect } from "chai";
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Experiment } from "../../lib/schema/experiment.ts";
import { BUCKET_MS, emptyOutcomes } from "../../lib/schema/series.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { CRASH_INPUTS, hostileWorkspace } from "../helpers/hostile.ts";

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

  it("judge re-judges a stored run and exits 5 when a check cannot tell (the generator sent nothing in its window), 0 when all pass", async () => {
    const t0 = Date.UTC(2026, 11, 2, 23, 45);
    // 5 s of baseline with load, then 5 s of recovery in which the generator fell silent
    const buckets = Array.from({ length: 50 }, (_, i) => ({ t: t0 + i * BUCKET_MS, sent: 20, outcomes: { ...emptyOutcomes(), ok: 20 }, lat: null, ttft: null, itl: null, regions: {}, versions: {} }));
    const spec = Experiment.parse({ apiVersion: "faultline.dev/v1", kind: "Experiment", metadata: { name: "e" }, load: { rate: 200 }, steadyState: { thresholds: ["http_req_failed: rate < 0.01"] } });
    const record = (recoveryEnd: number): unknown => ({
      schemaVersion: 1,
      runId: "r",
      experiment: { name: "e" },
      target: { name: "t" },
      startedAt: t0,
      endedAt: recoveryEnd,
      timeScale: 1,
      phases: [{ name: "baseline", start: t0, end: t0 + 4000 }, { name: "recovery", start: t0 + 4000, end: recoveryEnd }],
      faults: [],
      assertions: [],
      timeline: [],
      series: { probes: {}, load: { version: 1, engine: "builtin", bucketMs: BUCKET_MS, start: t0, targetRate: 200, buckets } },
      spec,
    });
    const dir = tempDir("judge");
    writeFileSync(join(dir, "silent.json"), JSON.stringify(record(t0 + 10_000)));
    writeFileSync(join(dir, "served.json"), JSON.stringify(record(t0 + 5000)));
    const silent = await runCli(["judge", join(dir, "silent.json")]);
    expect(silent.code, silent.stderr).to.equal(5);
    expect(silent.stdout).to.match(/steady-state-after-recovery \(steady-state\): inconclusive: the load generator sent no request in the window \(\+7\.0s to \+10\.0s of the load\)/);
    const served = await runCli(["judge", join(dir, "served.json")]);
    expect(served.code, served.stderr + served.stdout).to.equal(0);
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

  it("hostile files through validate: each a located error, exit 2, no stack trace; a folder is checked to the end past a dangling link and a FIFO", async () => {
    const dir = tempDir("hostile-cli");
    hostileWorkspace(dir); // its scenarios/ is found from cases/, a folder below
    const cases = join(dir, "cases");
    mkdirSync(cases);
    for (const [name, c] of Object.entries(CRASH_INPUTS)) writeFileSync(join(cases, `${name}.yaml`), c.source);
    symlinkSync(join(dir, "gone.yaml"), join(cases, "a-dangling.yaml"));
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [join(cases, "b-fifo.yaml")]);
    writeFileSync(join(cases, "zz-valid.yaml"), readFileSync("experiments/region-partition.yaml", "utf8").replace(/^# yaml-language.*\n/, ""));
    const r = await runCli(["validate", cases]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.not.match(/^\s+at /m);
    expect(r.stderr).to.not.match(/internal error/);
    for (const [name, c] of Object.entries(CRASH_INPUTS)) {
      const line = r.stderr.split("\n").find((l) => l.includes(`${name}.yaml`));
      expect(line, `${name}: ${r.stderr.slice(0, 2000)}`).to.match(/\.yaml:\d+:\d+: /);
      expect(r.stderr, name).to.match(c.says);
    }
    expect(r.stderr).to.match(/a-dangling\.yaml: ENOENT \(a symbolic link to a file that does not exist\)/);
    expect(r.stderr).to.match(/b-fifo\.yaml: a FIFO, not a regular file/);
    // the file after them was still checked, and the summary counts every file
    expect(r.stdout).to.match(/ok {3}.*zz-valid\.yaml \(Experiment region-partition\)/);
    const n = Object.keys(CRASH_INPUTS).length + 2;
    expect(r.stdout).to.match(new RegExp(`^1 valid, ${n} invalid$`, "m"));
  });

  it("run with a target file that is missing, invalid or of the wrong kind exits 2 (invalid input) before anything starts", async () => {
    const dir = tempDir("bad-target");
    const wrongKind = join(dir, "wrong-kind.yaml");
    writeFileSync(wrongKind, "apiVersion: faultline.dev/v1\nkind: Experiment\nmetadata: {name: not-a-target}\n");
    const invalid = join(dir, "invalid.yaml");
    writeFileSync(invalid, "apiVersion: faultline.dev/v1\nkind: Target\nmetadata: {name: t}\ntoxiproxy: {api: 3}\n");
    for (const [t, says] of [
      [join(dir, "missing.yaml"), /cannot read .*missing\.yaml: ENOENT/],
      [invalid, /invalid\.yaml:4:\d+: toxiproxy\.api: /],
      [wrongKind, /wrong-kind\.yaml:1:1: kind: expected a document of kind Target/],
    ] as const) {
      const r = await runCli(["run", "experiments/node-loss.yaml", "--target", t, "--out", join(dir, "out")]);
      expect(r.code, `${t}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.match(says);
      expect(r.stderr).to.not.match(/^\s+at /m);
    }
  });
});
