import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { K6LoadEngine } from "../../lib/load/k6.ts";
import { summarize } from "../../lib/load/summary.ts";
import { DEFAULT_MIX } from "../../lib/load/types.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { ROOT, startHttpServer } from "../helpers/servers.ts";

describe("load: k6 engine (the pinned k6 binary, results through Prometheus remote write)", function () {
  this.timeout(90_000);

  it("500 req/s for 10 s: client-side and server-side counts agree within 1%, region tags come back", async () => {
    await using server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.setHeader("x-faultline-region", "us-east");
        res.end("{}");
      });
    });
    const run = await new K6LoadEngine().start({ baseUrl: server.url, rate: 500, durationMs: 10_000, maxInFlight: 1000, timeoutMs: 5000, mix: DEFAULT_MIX });
    const series = await run.done;
    const s = summarize(series);
    expect(series.bucketMs).to.equal(1000);
    expect(series.buckets.length).to.be.within(9, 13);
    expect(Math.abs(s.sent - server.requests) / server.requests).to.be.below(0.01);
    expect(s.regions["us-east"]).to.equal(s.outcomes.ok);
    expect(s.p99Ms).to.be.a("number");
  });

  it("k6 failing is a clear error, never a silent pass", async () => {
    // rate 0 is invalid for k6's constant-arrival-rate executor: k6 refuses the options and exits non-zero
    const run = await new K6LoadEngine().start({ baseUrl: "http://127.0.0.1:9", rate: 0, durationMs: 1000, maxInFlight: 10, timeoutMs: 500, mix: DEFAULT_MIX });
    let err: unknown;
    try {
      await run.done;
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/k6 exited with code \d+/);
  });

  it("export-k6 writes a runnable script for an experiment's load profile", async () => {
    const r = await runCli(["load", "export-k6", "experiments/region-partition.yaml", "--base-url", "http://127.0.0.1:8080"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('"executor":"constant-arrival-rate"');
    expect(r.stdout).to.contain('"rate":2000');
    const dir = tempDir("k6export");
    const file = join(dir, "load.js");
    (await import("node:fs")).writeFileSync(file, r.stdout);
    // k6 parses and validates the exported script (inspect does not send load)
    const inspect = JSON.parse(execFileSync(join(ROOT, "tools/bin/k6"), ["inspect", file], { encoding: "utf8" })) as { scenarios: Record<string, { executor: string }> };
    expect(inspect.scenarios.load?.executor).to.equal("constant-arrival-rate");
  });
});
