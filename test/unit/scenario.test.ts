import { expect } from "chai";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatProblem } from "../../lib/errors.ts";
import { loadOne, parseDocuments } from "../../lib/loader/documents.ts";
import { tempDir } from "../helpers/fixtures.ts";

const SCENARIO = `apiVersion: faultline.dev/v1
kind: Scenario
metadata:
  name: outage
params:
  region: { description: "the region to cut off" }
  duration: { default: 60s }
  restart: { default: false }
faults:
  - name: cut-\${region}
    kind: node-loss
    selector: { matchLabels: { region: "\${region}" } }
    duration: \${duration}
    params: { restart: "\${restart}" }
assertions:
  - { kind: alert, name: "down-\${region}", alert: RegionDown, fault: "cut-\${region}", within: 60s }
`;

/** A project folder with experiments/ and scenarios/, as the shipped library is laid out. */
function project(scenarios: Record<string, string>): { dir: string; experiment: (name: string, body: string) => string } {
  const dir = tempDir("scn");
  mkdirSync(join(dir, "experiments"));
  mkdirSync(join(dir, "scenarios"));
  for (const [name, text] of Object.entries(scenarios)) writeFileSync(join(dir, "scenarios", `${name}.yaml`), text);
  return {
    dir,
    experiment: (name, body) => {
      const file = join(dir, "experiments", `${name}.yaml`);
      writeFileSync(file, `apiVersion: faultline.dev/v1\nkind: Experiment\nmetadata:\n  name: ${name}\n${body}`);
      return file;
    },
  };
}

function problemsOf(file: string): string[] {
  return parseDocuments(file, readFileSync(file, "utf8")).problems.map(formatProblem);
}

describe("spec: scenarios", () => {
  it("expands a scenario's faults and assertions with its parameters, keeping their types", async () => {
    const p = project({ outage: SCENARIO });
    const file = p.experiment("e", "scenarios:\n  - { use: outage, with: { region: us-east, restart: true } }\n  - { use: outage, with: { region: us-west, duration: 5s } }\n");
    const exp = await loadOne(file, "Experiment");
    expect(exp.faults.map((f) => [f.name, f.duration, "selector" in f ? f.selector.matchLabels : undefined])).to.deep.equal([
      ["cut-us-east", 60_000, { region: "us-east" }],
      ["cut-us-west", 5000, { region: "us-west" }],
    ]);
    expect(exp.faults.map((f) => (f.params as { restart: boolean }).restart)).to.deep.equal([true, false]);
    expect(exp.assertions.map((a) => a.name)).to.deep.equal(["down-us-east", "down-us-west"]);
  });

  it("an unknown scenario is reported at its use: line with a suggestion and the known names", () => {
    const p = project({ outage: SCENARIO });
    const file = p.experiment("e", "faults: []\nscenarios:\n  - { use: outgae }\n");
    const [problem, ...rest] = problemsOf(file);
    expect(rest).to.deep.equal([]);
    expect(problem).to.match(/e.yaml:7:\d+: scenarios\[0\]\.use: no scenario "outgae"; did you mean "outage"\? \(have: outage\)/);
  });

  it("unknown and missing parameters are reported at the experiment's lines", () => {
    const p = project({ outage: SCENARIO });
    const file = p.experiment("e", "scenarios:\n  - use: outage\n    with:\n      duraton: 5s\n");
    const problems = problemsOf(file);
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(/e.yaml:6:\d+: scenarios\[0\]\.use: scenario "outage" needs parameter "region" \(the region to cut off\)/);
    expect(problems[1]).to.match(/e\.yaml:8:7: scenarios\[0\]\.with\.duraton: scenario "outage" has no parameter "duraton"; did you mean "duration"\?/);
  });

  it("a bad value that came from a scenario is reported in the scenario file, naming the experiment that used it", () => {
    const p = project({ outage: SCENARIO });
    const file = p.experiment("e", "scenarios:\n  - { use: outage, with: { region: us-east, duration: soon } }\n");
    const problems = problemsOf(file);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/scenarios\/outage.yaml:13:\d+: faults\[0\]\.duration: .*— scenario "outage" used at .*e\.yaml:6/);
  });

  it("a ${name} that is no parameter is reported at its line in the scenario, with a suggestion", () => {
    const p = project({ outage: SCENARIO.replace('fault: "cut-${region}"', 'fault: "cut-${regoin}"') });
    const file = p.experiment("e", "scenarios:\n  - { use: outage, with: { region: us-east } }\n");
    const problems = problemsOf(file);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/outage.yaml:16:\d+: assertions\[0\]\.fault: \$\{regoin\} names no parameter; did you mean "\$\{region\}"\?/);
  });

  it("the same scenario used twice with the same parameters is a duplicate, reported as one", () => {
    const p = project({ outage: SCENARIO });
    const file = p.experiment("e", "scenarios:\n  - { use: outage, with: { region: us-east } }\n  - { use: outage, with: { region: us-east } }\n");
    const problems = problemsOf(file);
    expect(problems.some((x) => /duplicate fault name "cut-us-east" — scenario "outage" used at .*e\.yaml:7/.test(x)), problems.join("\n")).to.equal(true);
    expect(problems.some((x) => /duplicate assertion name "down-us-east"/.test(x)), problems.join("\n")).to.equal(true);
  });

  it("the shipped region-outage twice (us-east and us-west dark together) loads: each use names its own fault and assertions", async () => {
    const file = join("test-results", "standby.yaml");
    mkdirSync("test-results", { recursive: true });
    writeFileSync(file, `apiVersion: faultline.dev/v1\nkind: Experiment\nmetadata: {name: standby}\nload: {rate: 10}\nscenarios:\n  - { use: region-outage, with: { region: us-east } }\n  - { use: region-outage, with: { region: us-west } }\n`);
    const exp = await loadOne(file, "Experiment");
    expect(exp.faults.map((f) => f.name)).to.deep.equal(["partition-us-east", "partition-us-west"]);
    expect(exp.assertions.map((a) => a.name)).to.deep.equal(["us-east-failover-under-30s", "us-east-down-alert", "us-west-failover-under-30s", "us-west-down-alert"]);
  });

  it("a scenario name that no required parameter varies is refused in the scenario file: two uses would clash", () => {
    const p = project({ outage: SCENARIO.replace("name: \"down-${region}\"", "name: \"down-${duration}\"") });
    const problems = problemsOf(join(p.dir, "scenarios", "outage.yaml"));
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/outage\.yaml:16:\d+: assertions\[0\]\.name: name "down-\$\{duration\}" takes no parameter without a default \(\$\{region\}\)/);
  });

  it("every shipped experiment and scenario is valid, and every shipped scenario is used (by a shipped or a test experiment)", () => {
    const used = new Set<string>();
    const files = [...readdirSync("experiments").map((f) => `experiments/${f}`), ...readdirSync("test/fixtures/experiments").map((f) => `test/fixtures/experiments/${f}`)];
    for (const path of files) {
      const { problems } = parseDocuments(path, readFileSync(path, "utf8"));
      expect(problems.map(formatProblem), path).to.deep.equal([]);
      for (const m of readFileSync(path, "utf8").matchAll(/use: ([a-z0-9-]+)/g)) used.add(m[1] as string);
    }
    for (const f of readdirSync("scenarios")) {
      expect(parseDocuments(`scenarios/${f}`, readFileSync(`scenarios/${f}`, "utf8")).problems, f).to.deep.equal([]);
      expect(used.has(f.replace(/\.yaml$/, "")), `scenarios/${f} is used by an experiment`).to.equal(true);
    }
  });
});
