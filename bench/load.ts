// npm run bench:load — builtin, k6 and wrk against the same minimal HTTP server in one run: achieved
// rate, p50/p99 latency and the generator's CPU seconds per 1,000 requests at 1k, 5k and 10k req/s.
// wrk is closed-loop (no target rate): it runs with just enough connections for the target and is
// the reference for what the machine can push; builtin and k6 are open-model at the target rate.
// Then (BENCH_HOMES=0 skips it) the builtin generator's send lag at 2k and 10k req/s with
// faultline's own thread kept busy the way observers and report writing keep it, for each place
// the scheduler can run: this thread (inline), a worker thread, a forked process.
import { execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { promisify } from "node:util";
import { cpuSeconds, rssMiB, table } from "./cpu.ts";
import { BuiltinLoadEngine } from "../lib/load/builtin.ts";
import type { GeneratorHome } from "../lib/load/builtin.ts";
import { K6LoadEngine } from "../lib/load/k6.ts";
import { summarize } from "../lib/load/summary.ts";
import { DEFAULT_MIX } from "../lib/load/types.ts";

const run = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rates = (process.env.BENCH_RATES ?? "1000,5000,10000").split(",").map(Number);

// The server runs in its own process so the generator's CPU is measured alone.
const serverSrc = `const http=require("node:http");let n=0;const s=http.createServer((q,r)=>{n++;q.resume();q.on("end",()=>{r.setHeader("content-type","application/json");r.end('{"ok":true}')})});s.keepAliveTimeout=60000;s.listen(0,"127.0.0.1",()=>process.stdout.write(String(s.address().port)+"\\n"));process.on("message",()=>process.send(n));`;
const server = spawn(process.execPath, ["-e", serverSrc], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
const port = await new Promise<number>((r) => server.stdout?.once("data", (d: Buffer) => r(Number(d.toString().trim()))));
const url = `http://127.0.0.1:${port}`;

const rows: (string | number)[][] = [];
const mix = DEFAULT_MIX;
for (const rate of rates) {
  // builtin, in this process
  {
    const cpu0 = process.cpuUsage();
    const r = await new BuiltinLoadEngine().start({ baseUrl: url, rate, durationMs: seconds * 1000, maxInFlight: 10_000, timeoutMs: 5000, mix });
    const s = summarize(await r.done);
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    rows.push(["builtin", rate, s.achievedRate, `${((s.achievedRate / rate) * 100).toFixed(1)} %`, s.errors, s.p50Ms?.toFixed(2) ?? "—", s.p99Ms?.toFixed(2) ?? "—", ((cpuS / Math.max(1, s.sent)) * 1000).toFixed(3), rssMiB(process.pid).toFixed(0)]);
  }
  // k6, as its own process (CPU read from /proc while it runs)
  {
    const engine = new K6LoadEngine();
    const r = await engine.start({ baseUrl: url, rate, durationMs: seconds * 1000, maxInFlight: 10_000, timeoutMs: 5000, mix });
    let cpuS = 0;
    let rss = 0;
    const sample = setInterval(() => {
      for (const pid of pidsOf("tools/bin/k6")) {
        cpuS = Math.max(cpuS, cpuSeconds(pid));
        rss = Math.max(rss, rssMiB(pid));
      }
    }, 250);
    const s = summarize(await r.done);
    clearInterval(sample);
    rows.push(["k6", rate, s.achievedRate, `${((s.achievedRate / rate) * 100).toFixed(1)} %`, s.errors, s.p50Ms?.toFixed(2) ?? "—", s.p99Ms?.toFixed(2) ?? "—", ((cpuS / Math.max(1, s.sent)) * 1000).toFixed(3), rss.toFixed(0)]);
  }
  // wrk: closed-loop; connections ≈ rate × 1 ms (the server answers in well under a millisecond)
  {
    const conns = Math.max(8, Math.round(rate / 500));
    const w = run("wrk", ["-t1", `-c${conns}`, `-d${seconds}s`, "--latency", url]);
    const pid = (w as unknown as { child: { pid: number } }).child.pid;
    let cpuS = 0;
    const sample = setInterval(() => (cpuS = Math.max(cpuS, cpuSeconds(pid))), 250);
    const { stdout } = await w;
    clearInterval(sample);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
    const total = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
    const p = (q: string): string => new RegExp(`\\s${q}%\\s+([\\d.]+\\w+)`).exec(stdout)?.[1] ?? "?";
    rows.push([`wrk (-c${conns}, closed loop)`, rate, Math.round(rps), "—", /Non-2xx/.test(stdout) ? "some" : 0, p("50"), p("99"), ((cpuS / Math.max(1, total)) * 1000).toFixed(3), "—"]);
  }
}
const homeRows: (string | number)[][] = [];
if (process.env.BENCH_HOMES !== "0") {
  for (const rate of [2000, 10_000]) {
    for (const home of ["inline", "worker", "process"] as GeneratorHome[]) {
      // the main thread busy 50 ms of every 250 (a fifth of a core), as a run's observers, judging
      // and report writing may keep it, in slices an ordinary JSON write of run.json takes
      const busy = setInterval(() => {
        const until = performance.now() + 50;
        while (performance.now() < until) JSON.stringify({ filler: "x".repeat(1000) });
      }, 250);
      const r = await new BuiltinLoadEngine(home).start({ baseUrl: url, rate: rate / 10, stages: [{ duration: 2000, target: rate }], durationMs: 2000 + seconds * 1000, maxInFlight: 10_000, timeoutMs: 5000, mix });
      const series = await r.done;
      clearInterval(busy);
      const measured = series.buckets.slice(2000 / series.bucketMs);
      const lags = measured.map((b) => b.gen?.lagMs ?? 0).sort((a, b) => a - b);
      const late = lags.filter((x) => x > 10).length;
      const s = summarize({ ...series, buckets: measured });
      homeRows.push([home, rate, Math.round(s.sent / seconds), s.errors, lags[Math.floor(lags.length * 0.5)] ?? 0, lags[Math.floor(lags.length * 0.99)] ?? 0, lags.at(-1) ?? 0, `${((late / Math.max(1, lags.length)) * 100).toFixed(1)} %`, s.p99Ms?.toFixed(2) ?? "—"]);
    }
  }
}
server.kill();
console.log(`\nbench:load — ${seconds}s per cell against a minimal Node HTTP server (own process), POST small JSON\n`);
console.log(table(["generator", "target req/s", "achieved req/s", "of target", "errors", "p50 ms", "p99 ms", "CPU s / 1k req", "RSS MiB"], rows));
if (homeRows.length > 0) {
  console.log(`\nwhere the builtin scheduler runs, with this thread busy 50 ms in every 250 — ${seconds}s per cell after a 2 s ramp (left out), send lag per 100 ms bucket\n`);
  console.log(table(["scheduler in", "target req/s", "achieved req/s", "errors", "lag p50 ms", "lag p99 ms", "lag max ms", "buckets > 10 ms late", "client p99 ms"], homeRows));
}

function pidsOf(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle)) out.push(Number(e));
    } catch {
      // the process went away
    }
  }
  return out;
}
