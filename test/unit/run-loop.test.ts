import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pendingActions, readJournal } from "../../lib/engine/journal.ts";
import { alertsOutrunning } from "../../lib/engine/plan.ts";
import type { FaultLayer } from "../../lib/engine/run.ts";
import { runExperiment } from "../../lib/engine/run.ts";
import type { UndoRecord } from "../../lib/faults/types.ts";
import { loadOne } from "../../lib/loader/documents.ts";
import { faultName } from "../../lib/schema/faults.ts";
import { Experiment } from "../../lib/schema/experiment.ts";
import { Target } from "../../lib/schema/target.ts";
import { FakeClock } from "../helpers/fake-clock.ts";
import { tempDir } from "../helpers/fixtures.ts";

/**
 * The run loop alone: a fake fault layer that records what it is asked to do, and a fake clock.
 * No servers, milliseconds per run. Two faults overlap: a (at 0 s for 2 s) and b (at 1 s for 2 s),
 * after a 1 s baseline and before a 1 s recovery.
 */
describe("run loop (fake backend, fake clock)", () => {
  const target = Target.parse({ apiVersion: "faultline.dev/v1", kind: "Target", metadata: { name: "fake" } });
  const experiment = (extra: Record<string, unknown> = {}): Experiment =>
    Experiment.parse({
      apiVersion: "faultline.dev/v1",
      kind: "Experiment",
      metadata: { name: "loop" },
      phases: { warmup: "0s", baseline: "1s", recovery: "1s" },
      faults: [
        { name: "a", kind: "latency", selector: { matchLabels: { region: "x" } }, at: "0s", duration: "2s", params: { latency: "1ms" } },
        { name: "b", kind: "latency", selector: { matchLabels: { region: "x" } }, at: "1s", duration: "2s", params: { latency: "1ms" } },
      ],
      ...extra,
    });

  /** A layer that logs `inject a @1000` / `revert a @3000` (ms since the run started). */
  function fakeLayer(clock: FakeClock, o: { onInject?: (fault: string) => void; revertFails?: boolean; verifyMs?: number } = {}): { layer: FaultLayer; calls: string[] } {
    const t0 = clock.now();
    const calls: string[] = [];
    const layer: FaultLayer = {
      prepare: async () => void calls.push("prepare"),
      plan: async (_fault, ctx) => ({
        targets: ["thing"],
        actions: [
          {
            description: `${ctx.faultName} on thing`,
            undo: { driver: "fake", op: "undo", fault: ctx.faultName },
            apply: async () => {
              calls.push(`inject ${ctx.faultName} @${clock.now() - t0}`);
              o.onInject?.(ctx.faultName);
            },
            ...(o.verifyMs === undefined ? {} : { verify: () => clock.sleep(o.verifyMs ?? 0) }),
          },
        ],
      }),
      backend: () => ({
        name: "fake",
        parse: (u: UndoRecord) => u,
        revert: async (u: UndoRecord) => {
          calls.push(`revert ${String(u.fault)} @${clock.now() - t0}`);
          if (o.revertFails) throw new Error("the backend went away");
        },
        isActive: async () => true,
      }),
    };
    return { layer, calls };
  }

  /** The journal's lines as `type actionId`. */
  const journal = (runDir: string): string[] =>
    readFileSync(join(runDir, "journal.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; actionId?: string })
      .map((e) => (e.actionId === undefined ? e.type : `${e.type} ${e.actionId}`));

  it("runs its phases in order and injects and reverts each fault on schedule, journaling each step", async () => {
    const clock = new FakeClock();
    const { layer, calls } = fakeLayer(clock);
    const { record, runDir } = await runExperiment({ experiment: experiment(), target, outDir: tempDir("loop"), clock, faults: layer, tickMs: 100 });
    expect(record.verdict, record.reason).to.equal("pass");
    expect(record.phases.map((p) => [p.name, (p.end ?? 0) - p.start])).to.deep.equal([["baseline", 1000], ["fault", 3000], ["recovery", 1000]]);
    expect(calls).to.deep.equal(["prepare", "inject a @1000", "inject b @2000", "revert a @3000", "revert b @4000"]);
    expect(journal(runDir)).to.deep.equal(["run-start", "inject a#0", "injected a#0", "inject b#0", "injected b#0", "reverted a#0", "reverted b#0", "run-end"]);
    expect(record.faults.map((f) => [f.name, (f.injectedAt ?? 0) - record.startedAt, (f.revertedAt ?? 0) - record.startedAt])).to.deep.equal([["a", 1000, 3000], ["b", 2000, 4000]]);
  });

  it("a fault's clock starts when its action is made, not when the proof that it took is done", async () => {
    const clock = new FakeClock();
    const { layer } = fakeLayer(clock, { verifyMs: 400 }); // a proof that waits on a hung connection
    const { record } = await runExperiment({ experiment: experiment(), target, outDir: tempDir("loop"), clock, faults: layer, tickMs: 100 });
    expect(record.verdict, record.reason).to.equal("pass");
    expect((record.faults[0]?.injectedAt ?? 0) - record.startedAt).to.equal(1000);
  });

  it("an interrupt mid-fault reverts every active fault, newest first, and ends aborted", async () => {
    const clock = new FakeClock();
    const interrupt = new AbortController();
    const { layer, calls } = fakeLayer(clock, { onInject: (f) => f === "b" && interrupt.abort(new Error("SIGINT")) });
    const { record, runDir } = await runExperiment({ experiment: experiment(), target, outDir: tempDir("loop"), clock, faults: layer, signal: interrupt.signal });
    expect(record.verdict).to.equal("aborted");
    expect(record.reason).to.match(/interrupted: SIGINT/);
    expect(calls).to.deep.equal(["prepare", "inject a @1000", "inject b @2000", "revert b @2000", "revert a @2000"]);
    expect(journal(runDir).slice(-3)).to.deep.equal(["reverted b#0", "reverted a#0", "run-end"]);
    expect(record.phases.map((p) => p.name)).to.deep.equal(["baseline", "fault"]);
  });

  it("an alert whose `within` runs past the run's end is said in the plan, before anything is injected", async () => {
    const clock = new FakeClock();
    const { layer } = fakeLayer(clock);
    const assertions = [
      { kind: "alert", name: "too-long", alert: "RegionDown", fault: "b", within: "10s" },
      { kind: "alert", name: "fits", alert: "RegionDown", fault: "b", within: "3s" },
    ];
    const { record } = await runExperiment({ experiment: experiment({ assertions }), target, outDir: tempDir("loop"), clock, faults: layer, tickMs: 100 });
    const warnings = record.timeline.filter((e) => e.type === "plan.warning").map((e) => e.message);
    // b starts at +1 s of a 3 s fault phase, then 1 s of recovery: 3 s watched
    expect(warnings).to.deep.equal(["too-long: RegionDown must fire within 10s of b, but the run watches only 3.0s after it: if it stays silent, the check is inconclusive, not a fail (lengthen the recovery, or shorten `within`)"]);
  });

  it("every shipped experiment, as shipped, watches the whole limit of every alert it asserts", async () => {
    for (const file of readdirSync("experiments").filter((f) => f.endsWith(".yaml"))) {
      const exp = await loadOne(join("experiments", file), "Experiment");
      const planned = exp.faults.map((f, i) => ({ name: faultName(f, i), at: f.at }));
      const faultPhase = Math.max(0, ...exp.faults.map((f) => f.at + f.duration));
      expect(alertsOutrunning(exp, planned, faultPhase, exp.phases.recovery), file).to.deep.equal([]);
    }
  });

  it("a steady state that does not hold aborts before anything is injected", async () => {
    const clock = new FakeClock();
    const { layer, calls } = fakeLayer(clock);
    // a threshold with no load series to judge: the baseline cannot show it holds
    const exp = experiment({ steadyState: { thresholds: ["http_req_failed: rate < 0.01"] }, load: { rate: 1 } });
    const { record } = await runExperiment({ experiment: { ...exp, load: undefined }, target, outDir: tempDir("loop"), clock, faults: layer });
    expect(record.verdict).to.equal("aborted");
    expect(record.reason).to.match(/steady state did not hold before any fault: http_req_failed: rate < 0.01: no data/);
    expect(calls).to.deep.equal(["prepare"]);
  });

  it("an abort condition mid-fault reverts what is active and ends aborted", async () => {
    const clock = new FakeClock();
    const { layer, calls } = fakeLayer(clock);
    // the only probe answers nowhere: its failure rate is 100 % from the first call
    const exp = experiment({
      target: undefined,
      steadyState: { probes: [{ name: "gw", endpoint: "nowhere", every: "200ms", timeout: "50ms" }], maxFailureRate: 1 },
      abortWhen: [{ kind: "probe", probe: "gw", failureRateAbove: 0.5, for: "1500ms" }],
    });
    const withEndpoint = Target.parse({ ...target, endpoints: { nowhere: { url: "http://127.0.0.1:1/" } } });
    const { record } = await runExperiment({ experiment: exp, target: withEndpoint, outDir: tempDir("loop"), clock, faults: layer });
    expect(record.verdict, record.reason).to.equal("aborted");
    expect(record.reason).to.match(/abort condition: probe gw failure rate 100\.0% > 50\.0%/);
    expect(calls[0]).to.equal("prepare");
    expect(calls.some((c) => c.startsWith("inject")), "it aborted mid-fault, not before").to.equal(true);
    expect(calls.filter((c) => c.startsWith("inject")).length).to.equal(calls.filter((c) => c.startsWith("revert")).length);
  });

  it("a revert that throws ends the run `error`, and the journal says which action could not be reverted", async () => {
    const clock = new FakeClock();
    const { layer } = fakeLayer(clock, { revertFails: true });
    const { record, runDir } = await runExperiment({ experiment: experiment(), target, outDir: tempDir("loop"), clock, faults: layer });
    expect(record.verdict).to.equal("error");
    expect(record.reason).to.match(/could not revert 2 action\(s\), recorded in the journal \(run `faultline recover --run .*`\): a on thing: the backend went away; b on thing: the backend went away/);
    expect(journal(runDir).filter((l) => l.startsWith("revert-failed"))).to.deep.equal(["revert-failed a#0", "revert-failed b#0"]);
  });

  it("a fault's twelve actions are journaled in one write before the first is made, then made at once; one failing still reverts all", async () => {
    const clock = new FakeClock();
    const outDir = tempDir("loop");
    let inFlight = 0;
    let most = 0;
    const journaledAtFirstApply: number[] = [];
    const reverted: string[] = [];
    const layer: FaultLayer = {
      prepare: async () => undefined,
      plan: async (_fault, ctx) => ({
        targets: ["t"],
        actions: Array.from({ length: 12 }, (_, i) => ({
          description: `${ctx.faultName} ${i}`,
          undo: { driver: "fake", op: "undo", fault: ctx.faultName, i },
          apply: async () => {
            const runDir = join(outDir, readdirSync(outDir)[0] as string);
            if (journaledAtFirstApply.length === 0) journaledAtFirstApply.push(pendingActions(readJournal(join(runDir, "journal.jsonl"))).length);
            most = Math.max(most, ++inFlight);
            await new Promise((r) => setImmediate(r));
            inFlight--;
            if (ctx.faultName === "b" && i === 7) throw new Error("toxiproxy said no");
          },
        })),
      }),
      backend: () => ({ name: "fake", parse: (u: UndoRecord) => u, revert: async (u: UndoRecord) => void reverted.push(`${String(u.fault)}#${String(u.i)}`) }),
    };
    const { record, runDir } = await runExperiment({ experiment: experiment(), target, outDir, clock, faults: layer, tickMs: 100 });
    // a kill at the first apply finds every action of the fault in the journal (recover's pending list)
    expect(journaledAtFirstApply).to.deep.equal([12]);
    expect(most, "actions of one fault in flight together").to.equal(12);
    expect(record.verdict).to.equal("error");
    expect(record.reason).to.match(/injecting b failed at b 7: toxiproxy said no/);
    expect(journal(runDir).filter((l) => l.startsWith("inject-failed"))).to.deep.equal(["inject-failed b#7"]);
    // b's other eleven took effect and are reverted with the failed one; a's twelve too
    expect(reverted.filter((r) => r.startsWith("b#")).length).to.equal(12);
    expect(reverted.filter((r) => r.startsWith("a#")).length).to.equal(12);
    expect(record.faults.find((f) => f.name === "b")?.injectedAt).to.be.a("number");
  });
});
