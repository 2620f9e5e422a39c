import { expect } from "chai";
import { readFileSync } from "node:fs";
import { formatProblem } from "../../lib/errors.ts";
import { formatDuration, parseDuration } from "../../lib/schema/duration.ts";
import { SCHEMA_KINDS, jsonSchema } from "../../lib/schema/json-schema.ts";
import type { SchemaKind } from "../../lib/schema/json-schema.ts";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import { faultKindsMarkdown } from "../../lib/schema/faults.ts";
import { parseDocuments } from "../../lib/loader/documents.ts";
import { didYouMean } from "../../lib/schema/strict.ts";

const HEADER = "apiVersion: faultline.dev/v1\nkind: Experiment\nmetadata:\n  name: t\n";

describe("spec: durations", () => {
  it("parses ms, s, m, h and compound forms", () => {
    expect(parseDuration("250ms")).to.equal(250);
    expect(parseDuration("30s")).to.equal(30_000);
    expect(parseDuration("2m")).to.equal(120_000);
    expect(parseDuration("1m30s")).to.equal(90_000);
    expect(parseDuration("1.5s")).to.equal(1500);
    expect(parseDuration("1h")).to.equal(3_600_000);
  });
  it("rejects what is not a duration", () => {
    for (const bad of ["", "10", "10 s", "s", "-1s", "10x", "1m30"]) expect(parseDuration(bad), bad).to.equal(undefined);
  });
  it("formats back", () => {
    expect(formatDuration(250)).to.equal("250ms");
    expect(formatDuration(90_000)).to.equal("1m30s");
  });
});

describe("spec: did-you-mean", () => {
  it("suggests the closest key and nothing for far-off ones", () => {
    expect(didYouMean("duraton", ["name", "duration", "at"])).to.equal("duration");
    expect(didYouMean("zzzzzz", ["name", "duration", "at"])).to.equal(undefined);
  });
});

describe("spec: loading with source positions", () => {
  it("reports every problem at once with file:line:col and key path", () => {
    const file = "test/fixtures/invalid/three-mistakes.yaml";
    const { problems } = parseDocuments(file, readFileSync(file, "utf8"));
    const lines = problems.map(formatProblem);
    expect(lines).to.have.length(3);
    expect(lines[0]).to.match(/^test\/fixtures\/invalid\/three-mistakes\.yaml:6:13: phases\.baseline: invalid duration "10 seconds"/);
    expect(lines[1]).to.match(/:11:5: faults\[0\]\.duraton: unknown key "duraton"; did you mean "duration"\?/);
    expect(lines[2]).to.match(/:14:17: faults\[0\]\.params\.toxicity: .*expected number/);
  });

  it("points an unknown fault kind at its kind: key and lists the valid kinds", () => {
    const src = `${HEADER}faults:\n  - kind: partiton\n    selector: {names: [a]}\n    duration: 1s\n`;
    const [p] = parseDocuments("x.yaml", src).problems;
    expect(p).to.include({ line: 6, col: 11, path: "faults[0].kind" });
    expect(p?.message).to.match(/did you mean "partition"\?.*valid: latency, bandwidth, partition/);
  });

  it("reports YAML syntax errors with their position", () => {
    const { problems } = parseDocuments("x.yaml", `${HEADER}faults: [\n`);
    expect(problems).to.have.length.greaterThan(0);
    expect(problems[0]?.message).to.match(/^YAML syntax/);
    expect(problems[0]?.line).to.be.greaterThan(4);
  });

  it("rejects an unknown document kind with a suggestion", () => {
    const { problems } = parseDocuments("x.yaml", "apiVersion: faultline.dev/v1\nkind: Experimnt\n");
    expect(problems[0]).to.include({ line: 2, col: 7, path: "kind" });
    expect(problems[0]?.message).to.match(/did you mean "Experiment"/);
  });

  it("applies defaults and converts durations to milliseconds", () => {
    const src = `${HEADER}faults:\n  - kind: latency\n    selector: {matchLabels: {region: us-east}}\n    at: 5s\n    duration: 1m\n    params: {latency: 200ms}\n`;
    const { docs, problems } = parseDocuments("x.yaml", src);
    expect(problems).to.deep.equal([]);
    const exp = docs[0]?.value;
    if (exp?.kind !== "Experiment") throw new Error("expected an experiment");
    expect(exp.phases).to.deep.equal({ warmup: 5000, baseline: 10_000, recovery: 10_000 });
    expect(exp.faults[0]).to.deep.include({ at: 5000, duration: 60_000 });
    expect(exp.faults[0]?.params).to.deep.equal({ latency: 200, jitter: 0, direction: "downstream", toxicity: 1 });
  });

  it("checks that assertions name a probe that exists", () => {
    const src = `${HEADER}assertions:\n  - {kind: probe, name: a, probe: nope, minSuccessRate: 0.9}\n`;
    const [p] = parseDocuments("x.yaml", src).problems;
    expect(p?.path).to.equal("assertions[0].probe");
    expect(p?.message).to.match(/no probe named "nope"/);
  });

  it("a failover check needs a fault as long as its limit and sustain window", () => {
    const src = `${HEADER}load: {rate: 10}\nfaults:\n  - {name: f, kind: partition, selector: {names: [a]}, duration: 30s}\nassertions:\n  - {kind: failover, name: fo, fault: f, within: 30s, sustain: 5s}\n`;
    const [p] = parseDocuments("x.yaml", src).problems;
    expect(p).to.include({ path: "assertions[0].within", line: 9 });
    expect(p?.message).to.equal('fault "f" lasts 30s, less than within (30s) + sustain (5s): a failover that settles late but in time could not be told from one that never does. Make the fault at least 35s, or within at most 25s');
    expect(parseDocuments("x.yaml", src.replace("within: 30s", "within: 25s")).problems).to.deep.equal([]);
  });

  it("a target needs listen and upstream together", () => {
    const src = `apiVersion: faultline.dev/v1\nkind: Target\nmetadata: {name: t}\ntoxiproxy:\n  api: http://127.0.0.1:8474\n  proxies:\n    - {name: a, listen: "127.0.0.1:1"}\n`;
    const [p] = parseDocuments("t.yaml", src).problems;
    expect(p?.message).to.match(/listen and upstream go together/);
  });
});

describe("spec: JSON Schema", () => {
  it("describes the input side: durations are strings, unknown keys are refused", () => {
    const s = jsonSchema("experiment") as { properties: Record<string, { properties?: Record<string, unknown> }>; additionalProperties: boolean };
    expect(s.additionalProperties).to.equal(false);
    expect(s.properties.phases?.properties?.baseline).to.deep.include({ type: "string" });
  });
  it("matches the committed schemas/ files (run `make schemas` after changing lib/schema)", () => {
    for (const kind of Object.keys(SCHEMA_KINDS) as SchemaKind[]) {
      const committed = JSON.parse(readFileSync(`schemas/${kind}.schema.json`, "utf8")) as unknown;
      expect(committed, kind).to.deep.equal(jsonSchema(kind));
    }
    expect(readFileSync("docs/fault-kinds.md", "utf8"), "docs/fault-kinds.md").to.equal(`${faultKindsMarkdown()}\n`);
  });
});

describe("public API (lib/index.ts)", () => {
  it("is enough to load a shipped experiment and judge a recorded run with it", async () => {
    const api = await import("../../lib/index.ts");
    const [doc] = await api.loadFile("experiments/region-partition.yaml");
    if (doc?.parsed.kind !== "Experiment") throw new Error("not an experiment");
    const exp = doc.parsed.value;
    const record: RunRecord = { schemaVersion: 1, runId: "r", experiment: { name: exp.metadata.name }, target: { name: "t" }, startedAt: 0, endedAt: 1000, timeScale: 1, phases: [], faults: [], assertions: [], timeline: [], series: { probes: {} } };
    const verdicts = api.judgeAll(exp, record);
    // nothing was recorded: every assertion fails with a reason, none passes by default
    expect(verdicts.map((v) => v.name)).to.include.members(["us-east-failover-under-30s", "us-east-down-alert", "back-to-70-30"]);
    expect(verdicts.filter((v) => v.verdict === "pass").map((v) => v.name)).to.deep.equal([]);
    expect(api.jsonSchema("experiment")).to.have.property("title", "faultline experiment");
  });
});
