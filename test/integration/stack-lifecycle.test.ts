import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { retryUntil } from "../../lib/clock.ts";
import { loadOne } from "../../lib/loader/documents.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { groupMembers, promQuery } from "../helpers/stack.ts";
import type { StackState } from "../../lib/stack/placement.ts";

describe("stack: up, 70/30 routing, monitoring, down (real HAProxy, Toxiproxy, Prometheus, Alertmanager)", function () {
  this.timeout(90_000);
  const dir = tempDir("stack-cli");
  let pgid = 0;

  after(async () => {
    await runCli(["stack", "down", "--dir", dir]);
  });

  it("stack up returns once everything is ready and writes stack.json and a target file", async () => {
    const t0 = Date.now();
    const r = await runCli(["stack", "up", "--dir", dir, "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(Date.now() - t0).to.be.below(20_000);
    const state = JSON.parse(r.stdout) as { endpoints: Record<string, string>; replicas: unknown[] };
    expect(Object.keys(state.endpoints)).to.include.members(["gateway", "toxiproxy", "prometheus", "alertmanager", "rollout", "control"]);
    expect(state.replicas).to.have.length(9);
    pgid = Number(readFileSync(join(dir, "stack.pgid"), "utf8"));
    const target = await loadOne(join(dir, "target.yaml"), "Target");
    expect(target.toxiproxy?.proxies.filter((p) => p.labels.region === "us-east" && p.labels.path === "traffic")).to.have.length(3);
    expect(target.toxiproxy?.proxies.filter((p) => p.labels.region === "us-east" && p.labels.path === "health")).to.have.length(3);
    expect(new Set(target.toxiproxy?.proxies.filter((p) => p.labels.path === "traffic").map((p) => p.labels.zone))).to.have.length(9);
    // the session store's paths, one of each per region: clients, replication (what it announces), its Sentinel
    for (const path of ["session", "replication", "sentinel"]) expect(target.toxiproxy?.proxies.filter((p) => p.labels.path === path).map((p) => p.labels.region).sort(), path).to.deep.equal(["eu-west", "us-east", "us-west"]);
    const status = await runCli(["stack", "status", "--dir", dir]);
    expect(status.code).to.equal(0);
    expect(status.stdout).to.match(/replica-us-east-1 +pid \d+ +running/);
  });

  it("2,000 requests all return 200 and split 70/30 ± 5 points by x-faultline-region", async () => {
    const state = JSON.parse(readFileSync(join(dir, "stack.json"), "utf8")) as { endpoints: { gateway: string } };
    const regions: Record<string, number> = {};
    let ok = 0;
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const res = await fetch(`${state.endpoints.gateway}/v1/chat/completions`, {
            method: "POST",
            body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
          });
          await res.arrayBuffer();
          if (res.status === 200) ok++;
          const region = res.headers.get("x-faultline-region") ?? "none";
          regions[region] = (regions[region] ?? 0) + 1;
        }),
      );
    }
    expect(ok).to.equal(2000);
    expect((regions["us-east"] ?? 0) / 2000).to.be.within(0.65, 0.75);
    expect((regions["us-west"] ?? 0) / 2000).to.be.within(0.25, 0.35);
    expect(regions["eu-west"] ?? 0, "the standby region takes no traffic while others are up").to.equal(0);
  });

  it("Prometheus reports every scrape target up, and loaded as many alert rules as the config generates", async () => {
    const state = JSON.parse(readFileSync(join(dir, "stack.json"), "utf8")) as StackState;
    const targets = await retryUntil(
      async () => ((await (await fetch(`${state.endpoints.prometheus}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; scrapeUrl: string }[] } }).data.activeTargets,
      (ts) => ts.length > 0 && ts.every((t) => t.health === "up"),
      ({ value }) => new Error(`targets not all up: ${JSON.stringify(value?.filter((t) => t.health !== "up"))}`),
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    // nine replicas (their engine metrics and their GPU's DCGM fields), six of the stack's own, three Redis nodes through redis_exporter
    expect(targets).to.have.length(9 * 2 + 6 + 3);
    // the rules read vLLM's and the DCGM exporter's names: Prometheus holds them from every replica, each from its job
    const byJob = (await promQuery(state, `count by (job, __name__) ({__name__=~"vllm:num_requests_waiting|vllm:kv_cache_usage_perc|DCGM_FI_DEV_FB_USED|DCGM_FI_DEV_XID_ERRORS"})`)).map((x) => `${x.metric.job} ${x.metric.__name__} ${x.value[1]}`);
    expect(byJob.sort()).to.deep.equal(["dcgm DCGM_FI_DEV_FB_USED 9", "dcgm DCGM_FI_DEV_XID_ERRORS 9", "replicas vllm:kv_cache_usage_perc 9", "replicas vllm:num_requests_waiting 9"]);
    const rulesFile = parse(readFileSync(join(dir, "rules.yml"), "utf8")) as { groups: { rules: unknown[] }[] };
    const want = rulesFile.groups.reduce((n, g) => n + g.rules.length, 0);
    const rules = (await (await fetch(`${state.endpoints.prometheus}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string }[] }[] } };
    const names = rules.data.groups.flatMap((g) => g.rules.map((r) => r.name));
    expect(names).to.have.length(want);
    expect(new Set(names)).to.deep.equal(
      new Set(["HighErrorRate", "HighP99Latency", "GPUMemoryHigh", "GPUOutOfMemory", "QueueDepthHigh", "RegionDown", "CanaryRolledBack", "TrafficAnomaly", "SessionWritesFailing", "SessionReplicationLag"].concat(["ServiceDown", "KVCacheUsageHigh", "StageLatencyBudget", "GPUUtilizationHigh", "GPUTemperatureHigh", "GPUXidError"])),
    );
  });

  it("rules check: every shipped rule reads series the running stack has; a rule on vllm:gpu_cache_usage_perc is named and the exit is non-zero", async () => {
    const state = JSON.parse(readFileSync(join(dir, "stack.json"), "utf8")) as StackState;
    const ok = await runCli(["rules", "check", join(dir, "rules.yml"), "--prometheus", state.endpoints.prometheus, "--json"]);
    expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
    const report = JSON.parse(ok.stdout) as { rules: { rule: string; canFire: boolean }[]; neverFire: string[] };
    expect(report.rules.length).to.be.at.least(18);
    expect(report.neverFire).to.deep.equal([]);
    const mine = join(tempDir("rules"), "team.yml");
    writeFileSync(mine, "groups:\n  - name: team\n    rules:\n      - alert: KVCacheFull\n        expr: max(vllm:gpu_cache_usage_perc) > 0.95\n      - alert: QueueDeep\n        expr: sum(vllm:num_requests_waiting) > 100\n");
    const bad = await runCli(["rules", "check", mine, "--prometheus", state.endpoints.prometheus]);
    expect(bad.code, bad.stdout + bad.stderr).to.equal(1);
    expect(bad.stdout).to.match(/✗ team\/KVCacheFull can never fire: vllm:gpu_cache_usage_perc matches no series .* use vllm:kv_cache_usage_perc/);
    expect(bad.stdout).to.match(/✓ team\/QueueDeep/);
    expect(bad.stdout).to.match(/1 of 2 rules can never fire: KVCacheFull/);
  });

  it("rules export writes a pack for each engine that promtool accepts, naming what the engine does not export", async () => {
    const out = tempDir("packs");
    for (const engine of ["vllm", "sglang", "tgi", "triton"]) {
      const file = join(out, `${engine}.yml`);
      const r = await runCli(["rules", "export", "--engine", engine, "--out", file]);
      expect(r.code, r.stderr).to.equal(0);
      const check = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      expect(check.status, `${engine}: ${check.stdout}${check.stderr}`).to.equal(0);
      const text = readFileSync(file, "utf8");
      expect(text).to.match(/alert: GPUXidError/);
      if (engine === "tgi") expect(text).to.match(/# not written: KVCacheUsageHigh: tgi exports no such metric/);
    }
    expect(readFileSync(join(out, "vllm.yml"), "utf8")).to.match(/vllm:kv_cache_usage_perc/).and.not.match(/gpu_cache_usage_perc/);
    const wrong = await runCli(["rules", "export", "--engine", "llama.cpp"]);
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.match(/expected one of vllm, sglang, tgi, triton/);
  });

  it("a second stack up in the same folder is refused", async () => {
    const r = await runCli(["stack", "up", "--dir", dir]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/already running/);
  });

  it("stack down leaves no process of the stack running", async () => {
    expect(groupMembers(pgid).length).to.be.greaterThan(10);
    const r = await runCli(["stack", "down", "--dir", dir]);
    expect(r.code).to.equal(0);
    expect(groupMembers(pgid)).to.deep.equal([]);
    const again = await runCli(["stack", "down", "--dir", dir]);
    expect(again.stdout).to.match(/no stack running/);
  });

  it("stack down also cleans up after an `up` whose supervisor was killed", async () => {
    const d = tempDir("stack-crash");
    const r = await runCli(["stack", "up", "--dir", d]);
    expect(r.code, r.stderr).to.equal(0);
    const pg = Number(readFileSync(join(d, "stack.pgid"), "utf8"));
    process.kill(pg, "SIGKILL"); // the supervisor only: its children are orphaned but keep the group
    await new Promise((res) => setTimeout(res, 300));
    expect(groupMembers(pg).length).to.be.greaterThan(5);
    const down = await runCli(["stack", "down", "--dir", d]);
    expect(down.code).to.equal(0);
    expect(groupMembers(pg)).to.deep.equal([]);
  });

  it("invalid config values are refused with a clear message before anything starts", async () => {
    const d = tempDir("stack-bad");
    const r = await runCli(["stack", "up", "--dir", d, "--set", "gateway.healthCheck.intervlMs=5", "--set", "alerts.p99LatencyMs=-1", "--set", "rollout.steps=[50,20]"]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/gateway\.healthCheck\.intervlMs: unknown key "intervlMs"; did you mean "intervalMs"\?/);
    expect(r.stderr).to.match(/alerts\.p99LatencyMs: .*>0/);
    expect(r.stderr).to.match(/rollout\.steps: steps must rise and end at 100/);
    expect(groupMembers(0)).to.be.an("array");
  });
});
