// npm run bench:soak — the builtin engine at 10,000 req/s for BENCH_MINUTES (default 10) against a
// minimal server in its own process: achieved rate, errors and the runner's RSS over time, to show
// that memory stays bounded (no per-request records; buckets keep encoded histograms only).
// A 10 s warm-up ramp from a tenth of the rate comes first, as an experiment's warm-up phase does:
// started cold at full rate, the first second's JIT compilation and connection opening (on both
// sides) queue requests past the in-flight cap. Run it on an otherwise idle machine: with two
// cores, anything else that takes a core for seconds shows up as backlog (it recovers after).
import { spawn } from "node:child_process";
import { BuiltinLoadEngine } from "../lib/load/builtin.ts";
import type { GeneratorHome } from "../lib/load/builtin.ts";
import { summarize } from "../lib/load/summary.ts";
import { DEFAULT_MIX } from "../lib/load/types.ts";
import { table } from "./cpu.ts";

const minutes = Number(process.env.BENCH_MINUTES ?? 10);
const rate = Number(process.env.BENCH_RATE ?? 10_000);
const home = (process.env.BENCH_HOME ?? "worker") as GeneratorHome;
const serverSrc = `const http=require("node:http");const s=http.createServer((q,r)=>{q.resume();q.on("end",()=>r.end('{"ok":true}'))});s.keepAliveTimeout=60000;s.listen(0,"127.0.0.1",()=>process.stdout.write(String(s.address().port)+"\\n"));`;
const server = spawn(process.execPath, ["-e", serverSrc], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise<number>((r) => server.stdout?.once("data", (d: Buffer) => r(Number(d.toString().trim()))));
const rows: (string | number)[][] = [];
const base = { baseUrl: `http://127.0.0.1:${port}`, maxInFlight: 10_000, timeoutMs: 5000, mix: DEFAULT_MIX };
const warm = summarize(await (await new BuiltinLoadEngine(home).start({ ...base, rate: rate / 10, durationMs: 10_000, stages: [{ duration: 10_000, target: rate }] })).done);
console.log(`warm-up: ${warm.sent} requests ramped from ${rate / 10} to ${rate} req/s over 10 s, errors ${warm.errors}`);
const t0 = Date.now();
const run = await new BuiltinLoadEngine(home).start({ ...base, rate, durationMs: minutes * 60_000 });
const sampler = setInterval(() => {
  global.gc?.();
  const m = process.memoryUsage();
  const done = run.series.buckets.filter(Boolean).reduce((s, b) => s + b.outcomes.ok, 0);
  rows.push([`${Math.round((Date.now() - t0) / 1000)} s`, done, (m.rss / 2 ** 20).toFixed(0), (m.heapUsed / 2 ** 20).toFixed(0), run.series.buckets.length]);
}, 30_000);
const s = summarize(await run.done);
clearInterval(sampler);
server.kill();
console.log(`\nbench:soak — builtin (scheduler: ${home}) at ${rate} req/s for ${minutes} min against a minimal server\n`);
console.log(table(["elapsed", "ok so far", "RSS MiB", "heap MiB", "buckets"], rows));
console.log(`\nachieved ${s.achievedRate} req/s (${((s.achievedRate / rate) * 100).toFixed(2)} % of target), ${s.sent} sent, errors ${s.errors} (${((s.errors / Math.max(1, s.sent)) * 100).toFixed(3)} %), p50 ${s.p50Ms?.toFixed(1)} ms, p99 ${s.p99Ms?.toFixed(1)} ms`);
