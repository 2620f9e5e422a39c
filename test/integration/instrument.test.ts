import { expect } from "chai";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { runExperiment } from "../../lib/engine/run.ts";
import { GENERATOR_CONTROL } from "../../lib/load/generator.ts";
import { chartData } from "../../lib/report/model.ts";
import { Experiment } from "../../lib/schema/experiment.ts";
import type { RunRecord, StackSample } from "../../lib/schema/run-record.ts";
import { readState } from "../../lib/stack/lifecycle.ts";
import type { StackState } from "../../lib/stack/placement.ts";
import { tempDir } from "../helpers/fixtures.ts";

/**
 * Proven both ways on the local stack: a one-second stall of the load generator in the baseline is
 * the instrument's (the run is inconclusive, nothing is injected, nothing aborted), and a
 * one-second stall of the system of the same size — every replica frozen — still breaks the steady
 * state and aborts the run. The generator's scheduler runs in a worker thread and is held through
 * its control channel; a third run holds faultline's own thread instead, which the generator no
 * longer shares, so it has no effect on the verdict. A fourth keeps the gateway off its CPU (pinned
 * beside a busy loop) and reads HAProxy's own count of it in the stack's lane; the frozen replicas do not.
 */
describe("the instrument watched: a stalled generator is not a stalled system (local stack)", function () {
  this.timeout(180_000);
  const experiment = Experiment.parse({
    apiVersion: "faultline.dev/v1",
    kind: "Experiment",
    metadata: { name: "stall" },
    phases: { warmup: "4s", baseline: "6s", recovery: "2s" }, // Prometheus scrapes from about 4 s after the stack is up
    load: { rate: 200, timeout: "5s", mix: [{ name: "chat", maxTokens: 4, promptTokens: { min: 16, max: 64 } }] },
    steadyState: { thresholds: ["http_req_duration: p(99) < 400ms"] },
    faults: [{ name: "slow", kind: "latency", selector: { matchLabels: { region: "us-east" } }, duration: "1s", params: { latency: "10ms" } }],
  });

  /** Runs the experiment on a fresh local stack; `stall` runs 2 s into the baseline with the stack's folder. */
  async function runWith(stall: (stackDir: string) => Promise<void> | void): Promise<RunRecord> {
    const out = tempDir("instrument");
    const runId = `stall-${Date.now()}`;
    const { record } = await runExperiment({
      experiment,
      target: "local",
      outDir: out,
      runId,
      reporters: [{ onPhase: (phase) => void (phase === "baseline" && setTimeout(() => void stall(join(out, runId, "stack")), 2000)) }],
    });
    return record;
  }

  /** The running stack's state file, written before the run's baseline starts. */
  const stackState = (stackDir: string): StackState => {
    const state = readState(stackDir);
    if (state === undefined) throw new Error(`no stack.json in ${stackDir}`);
    return state;
  };

  const maxLag = (r: RunRecord, phase: string): number => {
    const p = r.phases.find((x) => x.name === phase);
    return Math.max(0, ...(r.series.load?.buckets ?? []).filter((b) => p && b.t >= p.start && b.t < (p.end ?? 0)).map((b) => Math.max(b.gen?.lagMs ?? 0, b.gen?.loopMs ?? 0)));
  };

  /** The highest value of one field of the stack's lane, over the whole run. */
  const peak = (r: RunRecord, field: Exclude<keyof StackSample, "t">): number => {
    const xs = (r.series.stack ?? []).map((s) => s[field]).filter((x): x is number => x !== undefined);
    expect(xs.length, `${field} in the stack's lane`).to.be.greaterThan(3);
    return Math.max(...xs);
  };

  it("the generator blocked for 1 s: inconclusive, with the stall in the instrument's lane; nothing injected", async () => {
    const record = await runWith(() => {
      const channel = new BroadcastChannel(GENERATOR_CONTROL);
      channel.postMessage({ holdMs: 1000 }); // the generator's scheduler is held on purpose
      channel.close();
    });
    expect(record.verdict, record.reason).to.equal("inconclusive");
    expect(record.reason).to.match(/the steady state could not be judged before any fault: the load generator was late on \d+\.\d% of the window's requests \(up to \d+ ms/);
    expect(record.reason, "and what the steady state measured").to.match(/; the steady state alone said: http_req_duration: p\(99\) < 400ms: measured [\d.]+ms/);
    expect(record.faults[0]?.injectedAt, "nothing injected").to.equal(undefined);
    expect(maxLag(record, "baseline")).to.be.at.least(900);
    // the report's instrument lane shows it
    const chart = chartData(record.series.load?.buckets ?? [], record.series.host ?? []);
    expect(Math.max(...(chart?.lagMs ?? []).map((x) => x ?? 0))).to.be.at.least(900);
    expect((record.series.host ?? []).length, "host samples recorded").to.be.greaterThan(3);
    // and the stack's lane says the gateway's replicas kept their pace
    expect(peak(record, "gatewayResponseMs"), "the gateway's response time").to.be.below(100);
  });

  it("faultline's own thread blocked for 1 s: the generator, in its own thread or process, stays on time and the run passes", async () => {
    const record = await runWith(() => {
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        // observers, judging and report writing share this thread; the scheduler does not
      }
    });
    expect(record.verdict, record.reason).to.equal("pass");
    expect(maxLag(record, "baseline"), "the generator stayed on time").to.be.below(100);
  });

  it("every replica frozen for 1 s with the generator healthy: the steady state breaks and the run aborts", async () => {
    const record = await runWith(async (stackDir) => {
      const state = stackState(stackDir);
      const all = (action: string): Promise<unknown> => Promise.all(state.replicas.map((r) => fetch(`${state.endpoints.control}/replicas/${r.name}/${action}`, { method: "POST", body: "{}" })));
      await all("freeze");
      await new Promise((r) => setTimeout(r, 1000));
      await all("thaw");
    });
    expect(record.verdict, record.reason).to.equal("aborted");
    expect(record.reason).to.match(/steady state did not hold before any fault: http_req_duration: p\(99\) < 400ms: measured \d+/);
    expect(peak(record, "gatewayStolenMs"), "a stalled system is not the gateway kept off its CPU").to.be.below(300);
    expect(maxLag(record, "baseline"), "the generator itself stayed on time").to.be.below(100);
    // the stack's lane says where the time went: the gateway waited on its replicas
    expect(peak(record, "gatewayResponseMs"), "the gateway's response time").to.be.at.least(100);
    expect(chartData(record.series.load?.buckets ?? [], record.series.host ?? [], record.series.stack ?? [])?.stack, "the report's stack lane").to.not.equal(null);
  });

  it("the gateway kept off its CPU for 2 s (pinned beside a busy loop, its group at nice 19): its own count is in the stack's lane and the report's", async () => {
    const record = await runWith(async (stackDir) => {
      const state = stackState(stackDir);
      const pid = String(state.processes.find((p) => p.name === "haproxy")?.pid);
      execFileSync("taskset", ["-a", "-p", "-c", "0", pid], { stdio: "ignore" });
      // the stack runs in a session of its own, and with autogroup scheduling on a nice value weighs only
      // inside its session's group: the group is lowered (or, without autogroup, the gateway's thread)
      const group = `/proc/${pid}/autogroup`;
      const autogroup = existsSync(group);
      if (autogroup) writeFileSync(group, "19");
      else execFileSync("renice", ["-n", "19", "-p", pid], { stdio: "ignore" });
      // a bounded busy loop on the gateway's CPU at the default priority: the scheduler leaves the gateway ~1.5 % of it
      const hog = spawn("taskset", ["-c", "0", process.execPath, "-e", "const end = Date.now() + 2000; while (Date.now() < end);"], { stdio: "ignore" });
      await once(hog, "exit");
      // back: lowering a nice value needs root, and the stack is stopped after the run anyway
      if (autogroup) {
        try {
          writeFileSync(group, "0");
        } catch (err) {
          console.log(`      (the stack's group stays at nice 19: ${String(err)})`);
        }
      }
      execFileSync("taskset", ["-a", "-p", "-c", `0-${availableParallelism() - 1}`, pid], { stdio: "ignore" });
    });
    // HAProxy's own count of the time it waited for the CPU, once a second in the stack's lane and in the report's instrument lane
    expect(peak(record, "gatewayStolenMs"), "the gateway's stolen CPU").to.be.at.least(500);
    const chart = chartData(record.series.load?.buckets ?? [], record.series.host ?? [], record.series.stack ?? []);
    expect(Math.max(...(chart?.gatewayStolenMs ?? []).map((x) => x ?? 0))).to.be.at.least(500);
    // and the busy loop is other work on the host: the steady state it broke cannot be judged
    expect(record.verdict, record.reason).to.equal("inconclusive");
    expect(record.reason).to.match(/the host was starved: other work took up to/);
  });
});
