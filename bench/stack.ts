// npm run bench:stack — how much small non-streaming traffic the local stack's gateway carries,
// every request crossing HAProxy, Toxiproxy and a replica; with the CPU share of each process.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadStackConfig } from "../lib/stack/config.ts";
import { stackDown, stackUp } from "../lib/stack/lifecycle.ts";
import { cpuSeconds, table } from "./cpu.ts";

const run = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 256);
const dir = mkdtempSync(join(tmpdir(), "faultline-bench-stack-"));
const sets = (process.env.BENCH_SET ?? "").split(",").filter(Boolean);

const state = await stackUp(await loadStackConfig(undefined, sets), { dir });
try {
  const script = join(dir, "post.lua");
  writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '{"model":"sim-7b","messages":[{"role":"user","content":"hello"}],"max_tokens":1}'\n`,
  );
  const live = (await (await fetch(`${state.endpoints.control}/state`)).json()) as typeof state;
  const procs = live.processes.filter((p) => p.pid !== undefined).map((p) => ({ name: p.name.startsWith("replica-") ? "replicas (9)" : p.name, pid: p.pid as number }));
  procs.push({ name: "supervisor + rollout", pid: state.pid });
  // warm-up: connections, JIT
  await run("wrk", ["-t1", `-c${connections}`, "-d3s", "-s", script, `${state.endpoints.gateway}/v1/chat/completions`]);
  const before = new Map(procs.map((p) => [p.pid, cpuSeconds(p.pid)]));
  const selfBefore = process.cpuUsage();
  const t0 = Date.now();
  const wrk = run("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, `${state.endpoints.gateway}/v1/chat/completions`]);
  const wrkPid = (wrk as unknown as { child: { pid: number } }).child.pid;
  let wrkCpu = 0;
  const sampler = setInterval(() => (wrkCpu = Math.max(wrkCpu, cpuSeconds(wrkPid))), 200);
  const { stdout } = await wrk;
  clearInterval(sampler);
  const wall = (Date.now() - t0) / 1000;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
  const total = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const sockErr = sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0;
  const p = (q: string): string => new RegExp(`\\s${q}%\\s+([\\d.]+\\w+)`).exec(stdout)?.[1] ?? "?";
  const usage = new Map<string, number>();
  for (const pr of procs) usage.set(pr.name, (usage.get(pr.name) ?? 0) + cpuSeconds(pr.pid) - (before.get(pr.pid) ?? 0));
  usage.set("wrk (load generator)", wrkCpu);
  void selfBefore;
  console.log(`\nbench:stack — wrk -c${connections} for ${seconds}s, POST /v1/chat/completions max_tokens=1, through HAProxy → Toxiproxy → replica\n`);
  console.log(
    table(
      ["requests/s", "requests", "errors", "error %", "p50", "p90", "p99"],
      [[rps.toFixed(0), total, non2xx + sockErr, (((non2xx + sockErr) / Math.max(1, total)) * 100).toFixed(3), p("50"), p("90"), p("99")]],
    ),
  );
  console.log("\nCPU by process over the run (2 cores = 200 %):\n");
  const rows = [...usage.entries()].sort((a, b) => b[1] - a[1]).map(([name, s]) => [name, s.toFixed(1), `${((s / wall) * 100).toFixed(0)} %`]);
  console.log(table(["process", "cpu seconds", "share of one core"], rows));
} finally {
  await stackDown({ dir });
  rmSync(dir, { recursive: true, force: true });
}
