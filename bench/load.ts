// npm run bench:load — builtin, k6 and wrk against the same minimal HTTP server in one run: achieved
// rate, p50/p99 latency and the generator's CPU seconds per 1,000 requests at 1k, 5k and 10k req/s.
// wrk is paced to the target rate (a Lua delay between each connection's requests) and sends the
// same body; a node:net client that never parses a response gives the floor for any client in Node.
// A generator's priority changes its CPU per request (at nice -10 it wakes for every answer; at 0 it
// reads several per wake-up), so builtin and wrk are each measured at the builtin's own nice value and
// at 0: compare rows of the same nice.
// Then (BENCH_HOMES=0 skips it) the builtin generator's send lag at 2k and 10k req/s with
// faultline's own thread kept busy the way observers and report writing keep it, for each place
// the scheduler can run: this thread (inline), a worker thread, a forked process, a forked process
// in a session of its own.
// Then (BENCH_SATURATED=0 skips it) its send lag on a host saturated by other processes, each in a
// session of its own as a testcontainers stack's containers are each a group of their own: from a
// worker thread at nice 0 and at its own, and from a session of its own whose group asks for it too.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, getPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cpuSeconds, rssMiB, table } from "./cpu.ts";
import { BuiltinLoadEngine } from "../lib/load/builtin.ts";
import type { GeneratorHome } from "../lib/load/builtin.ts";
import { GENERATOR_NICE } from "../lib/load/generator.ts";
import { K6LoadEngine } from "../lib/load/k6.ts";
import { summarize } from "../lib/load/summary.ts";
import { prepareBodies } from "../lib/load/requests.ts";
import type { LoadSeries } from "../lib/schema/series.ts";
import { DEFAULT_MIX } from "../lib/load/types.ts";

const run = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
// BENCH_RATES= (empty) skips the first table
const rates = (process.env.BENCH_RATES ?? "1000,5000,10000").split(",").map(Number).filter((r) => r > 0);

// The server runs in its own process so the generator's CPU is measured alone.
const serverSrc = `const http=require("node:http");let n=0;const s=http.createServer((q,r)=>{n++;q.resume();q.on("end",()=>{r.setHeader("content-type","application/json");r.end('{"ok":true}')})});s.keepAliveTimeout=60000;s.listen(0,"127.0.0.1",()=>process.stdout.write(String(s.address().port)+"\\n"));process.on("message",()=>process.send(n));`;
const server = spawn(process.execPath, ["-e", serverSrc], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
const port = await new Promise<number>((r) => server.stdout?.once("data", (d: Buffer) => r(Number(d.toString().trim()))));
const url = `http://127.0.0.1:${port}`;

const rows: (string | number)[][] = [];
/** CPU-seconds per 1,000 requests, by `${rate} ${generator} ${nice}`: the builtin's and wrk's, for their ratio */
const cpuPer1k = new Map<string, number>();
const mix = DEFAULT_MIX;
const BODY = medianBody();
for (const rate of rates) {
  // builtin, in a worker thread of this process (so that this process's CPU is all of it): at its own
  // nice value, as runs use it, and at wrk's
  for (const nice of [GENERATOR_NICE, 0]) {
    const cpu0 = process.cpuUsage();
    const r = await new BuiltinLoadEngine("worker", { nice }).start({ baseUrl: url, rate, durationMs: seconds * 1000, maxInFlight: 10_000, timeoutMs: 5000, mix });
    const series = await r.done;
    const s = summarize(series);
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const label = `builtin, nice ${series.priority?.nice ?? "?"}${series.priority?.refused !== undefined ? " (refused)" : ""}`;
    const per1k = (cpuS / Math.max(1, s.sent)) * 1000;
    if (series.priority?.nice === nice) cpuPer1k.set(`${rate} builtin ${nice}`, per1k);
    rows.push([label, rate, s.achievedRate, `${((s.achievedRate / rate) * 100).toFixed(1)} %`, s.errors, s.p50Ms?.toFixed(2) ?? "—", s.p99Ms?.toFixed(2) ?? "—", per1k.toFixed(4), rssMiB(process.pid).toFixed(0)]);
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
    rows.push(["k6", rate, s.achievedRate, `${((s.achievedRate / rate) * 100).toFixed(1)} %`, s.errors, s.p50Ms?.toFixed(2) ?? "—", s.p99Ms?.toFixed(2) ?? "—", ((cpuS / Math.max(1, s.sent)) * 1000).toFixed(4), rss.toFixed(0)]);
  }
  // wrk, paced to the target rate (its Lua `delay()` between a connection's requests), POSTing a body
  // of the mix's median size: the reference for what a request costs a generator written in C. Run
  // closed-loop it pushes ~90,000 req/s here, and CPU per request falls with the rate (fewer wake-ups
  // per request), so only a paced run compares at 10,000.
  for (const nice of [GENERATOR_NICE, 0]) {
    const w = await wrkPaced(rate, nice);
    if (w.per1k !== undefined) cpuPer1k.set(`${rate} wrk ${nice}`, w.per1k);
    rows.push(w.row);
  }
  // the floor for any client in Node: node:net sockets, open-model at the rate, no HTTP parsing at all
  // (both run at this process's nice value, compared with wrk's at 0 when that is 0)
  const floor = await rawFloor(rate);
  rows.push(floor.row);
  // the builtin engine's client alone, and undici's dispatch API (what it sent with until 2026-12), with handlers that only count
  const alone = await clientAlone(rate);
  rows.push(alone.row);
  if (getPriority() === 0) {
    cpuPer1k.set(`${rate} floor 0`, floor.per1k);
    cpuPer1k.set(`${rate} client 0`, alone.per1k);
  }
  rows.push((await undiciAlone(rate)).row);
}
const homeRows: (string | number)[][] = [];
if (process.env.BENCH_HOMES !== "0") {
  for (const rate of [2000, 10_000]) {
    for (const home of ["inline", "worker", "process", "session"] as GeneratorHome[]) {
      // the main thread busy 50 ms of every 250 (a fifth of a core), as a run's observers, judging
      // and report writing may keep it, in slices an ordinary JSON write of run.json takes
      const busy = setInterval(() => {
        const until = performance.now() + 50;
        while (performance.now() < until) JSON.stringify({ filler: "x".repeat(1000) });
      }, 250);
      const r = await new BuiltinLoadEngine(home).start({ baseUrl: url, rate: rate / 10, stages: [{ duration: 2000, target: rate }], durationMs: 2000 + seconds * 1000, maxInFlight: 10_000, timeoutMs: 5000, mix });
      const series = await r.done;
      clearInterval(busy);
      const l = sendLag(series, 10);
      homeRows.push([home, rate, l.achieved, l.errors, l.p50, l.p99, l.max, l.lateShare, l.clientP99]);
    }
  }
}
// Then (BENCH_SATURATED=0 skips it) the same at 2k req/s on a host saturated by other processes, as a
// stack on the same 2 cores saturates it: the generator's thread at nice 0 and at its own GENERATOR_NICE,
// alternated so that a drift in the host's speed falls on both alike.
const busyRows: (string | number)[][] = [];
const hogs = availableParallelism() + 2;
if (process.env.BENCH_SATURATED !== "0") {
  for (const round of [1, 2]) {
    for (const [home, nice] of [["worker", 0], ["worker", GENERATOR_NICE], ["session", GENERATOR_NICE]] as const) {
      // each hog burns 20 ms then yields 1 ms, as busy servers do, and ends by itself after the cell
      const hogSrc = `const end=Date.now()+${(seconds + 4) * 1000};const spin=()=>{const t=performance.now()+20;while(performance.now()<t);if(Date.now()<end)setTimeout(spin,1)};spin();`;
      const hog = Array.from({ length: hogs }, () => spawn(process.execPath, ["-e", hogSrc], { stdio: "ignore", detached: true }));
      const r = await new BuiltinLoadEngine(home, { nice }).start({ baseUrl: url, rate: 200, stages: [{ duration: 2000, target: 2000 }], durationMs: 2000 + seconds * 1000, maxInFlight: 10_000, timeoutMs: 5000, mix });
      const series = await r.done;
      for (const h of hog) h.kill();
      const l = sendLag(series, 100);
      const group = series.priority?.autogroup !== undefined ? `own session, group nice ${series.priority.autogroup}` : "worker";
      busyRows.push([`${group}, nice ${series.priority?.nice ?? "?"}${series.priority?.refused !== undefined ? " (refused)" : ""}, round ${round}`, l.achieved, l.p50, l.p99, l.max, l.lateShare, l.clientP99]);
    }
  }
}
server.kill();
if (rows.length > 0) {
  console.log(`\nbench:load — ${seconds}s per cell against a minimal Node HTTP server (own process), POST small JSON\n`);
  console.log(table(["generator", "target req/s", "achieved req/s", "of target", "errors", "p50 ms", "p99 ms", "CPU s / 1k req", "RSS MiB"], rows));
  // the goal (#16): the builtin's CPU per request within 1.5× wrk's, rows of the same nice value compared
  for (const rate of rates) {
    const at = [GENERATOR_NICE, 0].map((nice) => {
      const b = cpuPer1k.get(`${rate} builtin ${nice}`);
      const w = cpuPer1k.get(`${rate} wrk ${nice}`);
      return `nice ${nice}: ${b !== undefined && w !== undefined && w > 0 ? `${(b / w).toFixed(2)}×` : "— (a priority refused)"}`;
    });
    console.log(`\nbuiltin ÷ wrk, CPU per request at ${rate} req/s — ${at.join(", ")} (goal: within 1.5×)`);
    // what Node's sockets cost before any HTTP is parsed: no client in Node comes lower than this
    const w = cpuPer1k.get(`${rate} wrk 0`);
    const floor = cpuPer1k.get(`${rate} floor 0`);
    const alone = cpuPer1k.get(`${rate} client 0`);
    if (w !== undefined && w > 0 && floor !== undefined && alone !== undefined) {
      console.log(`  at nice 0, over wrk: node:net never parsing ${(floor / w).toFixed(2)}× (the floor for a client in Node), the builtin's client alone ${(alone / w).toFixed(2)}×`);
    }
  }
}
if (homeRows.length > 0) {
  console.log(`\nwhere the builtin scheduler runs, with this thread busy 50 ms in every 250 — ${seconds}s per cell after a 2 s ramp (left out), send lag per 100 ms bucket\n`);
  console.log(table(["scheduler in", "target req/s", "achieved req/s", "errors", "lag p50 ms", "lag p99 ms", "lag max ms", "buckets > 10 ms late", "client p99 ms"], homeRows));
}
if (busyRows.length > 0) {
  console.log(`\nthe generator at 2,000 req/s on a saturated host (${hogs} processes, each in a session of its own, burning 20 ms of every 21 beside it) — ${seconds}s per cell after a 2 s ramp, send lag per 100 ms bucket; a bucket over 100 ms late is what makes a check inconclusive\n`);
  console.log(table(["generator", "achieved req/s", "lag p50 ms", "lag p99 ms", "lag max ms", "buckets > 100 ms late", "client p99 ms"], busyRows));
}

/** A generator's send lag per 100 ms bucket after its 2 s ramp: quantiles, the share over `lateMs`, and what the clients saw. */
function sendLag(series: LoadSeries, lateMs: number): { achieved: number; errors: number; p50: number; p99: number; max: number; lateShare: string; clientP99: string } {
  const measured = series.buckets.slice(2000 / series.bucketMs);
  const lags = measured.map((b) => b.gen?.lagMs ?? 0).sort((a, b) => a - b);
  const late = lags.filter((x) => x > lateMs).length;
  const s = summarize({ ...series, buckets: measured });
  return { achieved: Math.round(s.sent / seconds), errors: s.errors, p50: lags[Math.floor(lags.length * 0.5)] ?? 0, p99: lags[Math.floor(lags.length * 0.99)] ?? 0, max: lags.at(-1) ?? 0, lateShare: `${((late / Math.max(1, lags.length)) * 100).toFixed(1)} %`, clientP99: s.p99Ms?.toFixed(2) ?? "—" };
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

/** The mix's median request, as the builtin engine sends it (the body wrk and the bare clients send). */
function medianBody(): string {
  const bodies = prepareBodies(mix[0] as (typeof mix)[number], 32);
  return (bodies[16] as { body: string }).body;
}

/** wrk at nice value `nice` (as root; refused, the row says so and `per1k` is left out). */
async function wrkPaced(rate: number, nice: number): Promise<{ row: (string | number)[]; per1k?: number }> {
  const dir = mkdtempSync(join(tmpdir(), "bench-wrk-"));
  try {
    const script = join(dir, "paced.lua");
    const delayMs = 2;
    writeFileSync(script, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ${JSON.stringify(BODY)}\nfunction delay() return ${delayMs} end\n`);
    const once = async (conns: number, secs: number): Promise<{ rps: number; total: number; cpuS: number; nice: number | undefined; stdout: string }> => {
      // nice(1) runs wrk in its own process (exec): the pid is wrk's
      const w = run("nice", ["-n", String(nice), "wrk", "-t1", `-c${conns}`, `-d${secs}s`, "--latency", "-s", script, url]);
      const pid = (w as unknown as { child: { pid: number } }).child.pid;
      let cpuS = 0;
      let got: number | undefined;
      const sample = setInterval(() => {
        cpuS = Math.max(cpuS, cpuSeconds(pid));
        try {
          got = getPriority(pid);
        } catch {
          // it has ended
        }
      }, 100);
      const { stdout } = await w;
      clearInterval(sample);
      return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0), total: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0), cpuS, nice: got, stdout };
    };
    // each connection sends one request per (delay + round trip), and the round trip grows with the
    // rate: size the pool from a 2 s probe, then once more from a probe at that size (one step left
    // wrk at 88–93 % of the rate at nice 0, which compares CPU per request at unequal rates)
    let conns = Math.max(2, Math.round((rate * delayMs) / 1000));
    for (let step = 0; step < 2; step++) conns = Math.max(1, Math.round((conns * rate) / Math.max(1, (await once(conns, 2)).rps)));
    const w = await once(conns, seconds);
    const p = (q: string): string => new RegExp(`\\s${q}%\\s+([\\d.]+\\w+)`).exec(w.stdout)?.[1] ?? "?";
    const per1k = (w.cpuS / Math.max(1, w.total)) * 1000;
    const row = [`wrk, nice ${w.nice ?? "?"}${w.nice !== nice ? " (refused)" : ""} (-c${conns}, paced ${delayMs} ms)`, rate, Math.round(w.rps), `${((w.rps / rate) * 100).toFixed(1)} %`, /Non-2xx/.test(w.stdout) ? "some" : 0, p("50"), p("99"), per1k.toFixed(4), "—"];
    return w.nice === nice ? { row, per1k } : { row };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A bare client's table row, and its CPU-seconds per 1,000 requests. */
interface BareRun {
  row: (string | number)[];
  per1k: number;
}

/**
 * A bare client in its own process (an ES module), open-model at `rate` for the cell's seconds: `setup`
 * defines `send()` from `port` and `body` and counts each answer in `done`; nothing is parsed or recorded.
 */
async function bareClient(label: string, rate: number, setup: string): Promise<BareRun> {
  const src = `const [port,rate,secs]=process.argv.slice(1).map(Number);const body=process.env.BODY;let sent=0,done=0;${setup}
const t0=performance.now(),c0=process.cpuUsage();const tick=()=>{const el=performance.now()-t0;if(el>secs*1000){const c=process.cpuUsage(c0);process.stdout.write(JSON.stringify({sent,done,cpuS:(c.user+c.system)/1e6}));process.exit(0)}
const due=Math.floor(el*rate/1000);while(sent<due){send();sent++}setTimeout(tick,2)};setTimeout(tick,0);`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", src, String(port), String(rate), String(seconds)], { env: { ...process.env, BODY } });
  const r = JSON.parse(stdout) as { sent: number; done: number; cpuS: number };
  const achieved = Math.round(r.done / seconds);
  const per1k = (r.cpuS / Math.max(1, r.sent)) * 1000;
  return { row: [label, rate, achieved, `${((achieved / rate) * 100).toFixed(1)} %`, r.sent - r.done, "—", "—", per1k.toFixed(4), "—"], per1k };
}

/** node:net over a pool of kept-alive sockets; a response is counted, never parsed: the floor for any client in Node. */
function rawFloor(rate: number): Promise<BareRun> {
  return bareClient("node:net, no HTTP parsing (floor)", rate, `import net from "node:net";
const req=Buffer.from("POST / HTTP/1.1\\r\\nhost: 127.0.0.1\\r\\ncontent-type: application/json\\r\\ncontent-length: "+Buffer.byteLength(body)+"\\r\\n\\r\\n"+body);
const idle=[];const conn=()=>{const s=net.connect(port,"127.0.0.1");s.setNoDelay(true);s.on("data",()=>{done++;idle.push(s)});return s};
const send=()=>(idle.pop()??conn()).write(req);`);
}

/** The builtin engine's client (lib/load/http1.ts) with handlers that only count: the client's share of the builtin's cost. */
function clientAlone(rate: number): Promise<BareRun> {
  return bareClient("the builtin's client alone", rate, `import { Http1Pool } from ${JSON.stringify(join(process.cwd(), "lib/load/http1.ts"))};
const buf=Buffer.from(body);const pool=new Http1Pool("http://127.0.0.1:"+port,{connections:10000,keepAliveTimeoutMs:30000,connectTimeoutMs:5000});const headers=Object.freeze(["content-type","application/json"]);
class H{onRequestStart(){}onResponseStart(){}onResponseData(){}onResponseEnd(){done++}onResponseError(){done++}}
const send=()=>pool.dispatch({path:"/v1/chat/completions",method:"POST",headers,body:buf},new H());`);
}

/** undici's Agent.dispatch (what the builtin engine sent with until 2026-12), handlers that only count. */
function undiciAlone(rate: number): Promise<BareRun> {
  return bareClient("undici dispatch alone", rate, `import { Agent } from ${JSON.stringify(join(process.cwd(), "node_modules/undici/index.js"))};
const buf=Buffer.from(body);const agent=new Agent({connections:10000,pipelining:1,keepAliveTimeout:30000});
class H{onRequestStart(){}onResponseStart(){}onResponseData(){}onResponseEnd(){done++}onResponseError(){done++}}
const send=()=>agent.dispatch({origin:"http://127.0.0.1:"+port,path:"/v1/chat/completions",method:"POST",headers:["content-type","application/json"],body:buf},new H());`);
}
