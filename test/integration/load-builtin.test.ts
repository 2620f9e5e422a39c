import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { BuiltinLoadEngine, defaultHome } from "../../lib/load/builtin.ts";
import { GENERATOR_NICE, generatorNice } from "../../lib/load/generator.ts";
import { procStat } from "../../lib/proc/group.ts";
import { dueAt, dueBy } from "../../lib/load/schedule.ts";
import { BUCKET_MS, totalsOver } from "../../lib/schema/series.ts";
import { summarize } from "../../lib/load/summary.ts";
import { DEFAULT_MIX } from "../../lib/load/types.ts";
import { runCli } from "../helpers/cli.ts";
import { startHttpServer } from "../helpers/servers.ts";
import { promQuery, startStack } from "../helpers/stack.ts";

describe("load: builtin engine against real servers", function () {
  this.timeout(90_000);

  it("500 req/s for 10 s: client-side and server-side counts agree within 1%", async () => {
    await using server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    const run = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 500, durationMs: 10_000, maxInFlight: 1000, timeoutMs: 5000, mix: DEFAULT_MIX });
    const s = summarize(await run.done);
    expect(s.sent).to.be.within(4950, 5000);
    expect(Math.abs(s.completed - server.requests) / server.requests).to.be.below(0.01);
    expect(s.outcomes.ok).to.equal(server.requests);
    expect(s.errors).to.equal(0);
  });

  it("the generator's thread alone asks for nice -10 (the stack beside it cannot make it late); refused, the series says why", async () => {
    await using server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    const stat = (path: string): string[] => readFileSync(path, "utf8").split(") ")[1]?.split(" ") ?? [];
    const niceOf = (path: string): number => Number(stat(path)[16]);
    const run = await new BuiltinLoadEngine("worker").start({ baseUrl: server.url, rate: 100, durationMs: 1000, maxInFlight: 100, timeoutMs: 5000, mix: DEFAULT_MIX });
    // read while it runs: this process's threads, the worker's among them
    const nices = readdirSync("/proc/self/task").map((t) => niceOf(`/proc/self/task/${t}/stat`));
    const series = await run.done;
    expect(niceOf(`/proc/self/task/${process.pid}/stat`), "the main thread").to.not.equal(GENERATOR_NICE);
    if (series.priority?.refused === undefined) {
      expect(series.priority).to.deep.equal({ nice: GENERATOR_NICE });
      expect(nices.filter((n) => n === GENERATOR_NICE), `threads' nice values ${nices.join(" ")}`).to.have.length(1);
    } else {
      expect(process.getuid?.(), "root may raise a thread's priority").to.not.equal(0);
      expect(series.priority.refused).to.match(/^nice -10: /);
    }
    // FAULTLINE_GENERATOR_NICE chooses another (0 leaves the thread as it was); nonsense is refused by name
    expect(generatorNice({})).to.equal(GENERATOR_NICE);
    expect(generatorNice({ FAULTLINE_GENERATOR_NICE: "0" })).to.equal(0);
    expect(() => generatorNice({ FAULTLINE_GENERATOR_NICE: "-30" })).to.throw(/FAULTLINE_GENERATOR_NICE=-30: expected an integer from -20 to 19/);
    // asked for 0 (bench:load's comparison) the parked worker goes back to 0
    const again = await new BuiltinLoadEngine("worker", { nice: 0 }).start({ baseUrl: server.url, rate: 100, durationMs: 500, maxInFlight: 100, timeoutMs: 5000, mix: DEFAULT_MIX });
    expect((await again.done).priority).to.deep.equal({ nice: 0 });
  });

  it("in a session of its own (FAULTLINE_GENERATOR_HOME=session) the generator's scheduling group asks for nice -10 too; it is kept for the next run and ends with this process", async function () {
    if (readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() !== "1") return this.skip(); // no autogroup: no group to raise
    expect(defaultHome({}), "a worker unless asked").to.equal("worker");
    expect(defaultHome({ FAULTLINE_GENERATOR_HOME: "session" })).to.equal("session");
    await using server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    /** generator processes: this one's, or (`others`) any other process's */
    const generators = (others = false): string[] =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return (procStat(p)?.ppid === process.pid) !== others && readFileSync(`/proc/${p}/cmdline`, "utf8").includes("generator-worker");
          } catch {
            return false; // gone meanwhile
          }
        });
    const children = (): string[] => generators();
    const seen: { pid: string; session: string; group: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await new BuiltinLoadEngine("session").start({ baseUrl: server.url, rate: 100, durationMs: 500, maxInFlight: 100, timeoutMs: 5000, mix: DEFAULT_MIX });
      for (const pid of children()) seen.push({ pid, session: String(procStat(pid)?.session), group: readFileSync(`/proc/${pid}/autogroup`, "utf8").trim() });
      const series = await run.done;
      if (process.getuid?.() === 0) expect(series.priority).to.deep.equal({ nice: GENERATOR_NICE, autogroup: GENERATOR_NICE });
      else expect(series.priority?.refused, "a user may not raise a group").to.be.a("string");
    }
    expect(seen, "one generator process, the same for both runs").to.have.length(2);
    expect(seen[0]?.pid).to.equal(seen[1]?.pid);
    expect(seen[0]?.session, "it leads its own session").to.equal(seen[0]?.pid);
    if (process.getuid?.() === 0) expect(seen[0]?.group).to.match(/ nice -10$/);
    // the parent's own group is left as it was
    expect(readFileSync("/proc/self/autogroup", "utf8")).to.not.equal(readFileSync(`/proc/${seen[0]?.pid}/autogroup`, "utf8"));
    // nonsense is refused by name
    expect(() => defaultHome({ FAULTLINE_GENERATOR_HOME: "thread" })).to.throw(/FAULTLINE_GENERATOR_HOME=thread: expected one of worker, process, session, inline/);
    // parked, it keeps nothing alive: a process that ran it exits by itself, and takes it along
    const r = await runCli(["load", server.url, "--rate", "100", "--duration", "1s", "--json"], { FAULTLINE_GENERATOR_HOME: "session" });
    expect(r.code, r.stderr).to.equal(0);
    for (let i = 0; i < 20 && generators(true).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(generators(true), "the CLI's generator ended with it").to.deep.equal([]);
    expect(children(), "this process's generator is still parked").to.have.length(1);
  });

  it("faultline load above 1,000 req/s ramps up first and counts only the measured duration", async () => {
    await using server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    const r = await runCli(["load", server.url, "--rate", "2000", "--duration", "3s", "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    const s = JSON.parse(r.stdout) as { sent: number; targetRate: number; durationMs: number; warmup: { sent: number } };
    // 2 s from 200 to 2,000 req/s (2,200 requests), then 3 s at 2,000 (6,000): the server saw both
    expect(s.warmup.sent).to.be.within(2100, 2300);
    expect(s.sent).to.be.within(5900, 6000);
    expect(s.targetRate).to.equal(2000);
    expect(s.durationMs).to.equal(3000);
    expect(server.requests).to.be.within(s.sent + s.warmup.sent - 10, s.sent + s.warmup.sent);
  });

  it("a server that stalls for 2 s shows a latency spike in the buckets of exactly that stall (± 200 ms), not smeared", async () => {
    let stallUntil = 0;
    let stallStart = 0;
    const queued: (() => void)[] = [];
    await using server = await startHttpServer((req, res) => {
      req.resume();
      const answer = (): void => void res.end("{}");
      if (Date.now() < stallUntil) queued.push(answer);
      else answer();
    });
    const run = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 200, durationMs: 8000, maxInFlight: 2000, timeoutMs: 5000, mix: DEFAULT_MIX });
    setTimeout(() => {
      stallStart = Date.now();
      stallUntil = stallStart + 2000;
      setTimeout(() => queued.splice(0).forEach((f) => f()), 2000);
    }, 3000);
    const series = await run.done;
    const slow = series.buckets.filter((b) => (b.lat?.p50 ?? 0) > 200);
    expect(slow.length, "buckets with p50 > 200 ms").to.be.within(17, 23);
    const first = slow[0]?.t ?? 0;
    const last = (slow.at(-1)?.t ?? 0) + BUCKET_MS;
    expect(Math.abs(first - stallStart), `spike starts ${first - stallStart}ms from the stall`).to.be.at.most(200);
    // a request scheduled at t in the stall waits until its end: p50 > 200 ms holds until 200 ms before it
    const expectedEnd = stallStart + 2000 - 200;
    expect(Math.abs(last - expectedEnd), `spike ends ${last - expectedEnd}ms from 200 ms before the stall's end`).to.be.at.most(200);
    // requests sent at the start of the stall waited the whole 2 s: measured from their scheduled send time
    expect(slow[0]?.lat?.max).to.be.above(1800);
    const calm = series.buckets.filter((b) => b.t < stallStart - 500 || b.t > stallStart + 2500);
    expect(calm.every((b) => (b.lat?.p99 ?? 0) < 200)).to.equal(true);
    expect(totalsOver(series).sent).to.be.within(1590, 1600);
  });

  it("client retries: each failed try is sent again (x-retry-attempt 1, 2, …) until one succeeds or the attempts run out; a request counts once", async () => {
    const tries: number[] = [];
    await using server = await startHttpServer((req, res) => {
      req.resume();
      const attempt = Number(req.headers["x-retry-attempt"] ?? 0);
      tries.push(attempt);
      // the first two tries of every request fail: 503, then no answer at all (a client timeout)
      req.on("end", () => (attempt === 0 ? res.writeHead(503).end("{}") : attempt === 1 ? undefined : res.end("{}")));
    });
    const retry = { attempts: 3, backoff: 50, maxBackoff: 1000, jitter: "none" as const, on: ["5xx" as const, "timeout" as const] };
    const run = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 50, durationMs: 2000, maxInFlight: 1000, timeoutMs: 300, retry, mix: DEFAULT_MIX });
    const series = await run.done;
    const t = totalsOver(series);
    const retries = series.buckets.reduce((n, b) => n + (b.retries ?? 0), 0);
    expect(t.sent).to.be.within(99, 100);
    expect(t.outcomes.ok, JSON.stringify(t.outcomes)).to.equal(t.sent);
    expect(retries).to.equal(2 * t.sent);
    expect(tries.filter((a) => a === 0).length).to.equal(t.sent);
    expect(tries.filter((a) => a === 2).length).to.equal(t.sent);
    // the whole request, as its client saw it: 503, 50 ms, a 300 ms timeout, 100 ms, then the answer
    expect(series.buckets.find((b) => b.lat !== null)?.lat?.p50).to.be.within(440, 600);

    tries.length = 0;
    const once = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 50, durationMs: 1000, maxInFlight: 1000, timeoutMs: 300, retry: { ...retry, attempts: 1, on: ["timeout" as const] }, mix: DEFAULT_MIX });
    const o = totalsOver(await once.done);
    expect(o.outcomes.s5xx, "a 503 is not retried when only timeouts are").to.equal(o.sent);
    expect(tries.every((a) => a === 0)).to.equal(true);
  });

  it("streams: a cut one counts the tokens it never got; a cancelled one closes mid-way, counts ok, and stays out of the latency", async () => {
    const TOKENS = 10;
    let closedEarly = 0;
    let cutAfter = 0; // 0: stream every token
    await using server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        let i = 0;
        const step = (): void => {
          if (res.destroyed) return void closedEarly++;
          if (cutAfter > 0 && i === cutAfter) return void res.socket?.destroy(); // the server's side dies mid-stream
          if (i === TOKENS) return void res.end("data: [DONE]\n\n");
          res.write(`data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n`);
          i++;
          setTimeout(step, 20);
        };
        step();
      });
    });
    const mix = [{ ...DEFAULT_MIX[0]!, maxTokens: TOKENS, streamShare: 1 }];
    cutAfter = 3;
    const cut = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 40, durationMs: 1000, maxInFlight: 500, timeoutMs: 3000, mix });
    const c = totalsOver(await cut.done);
    expect(c.outcomes.streamCut, JSON.stringify(c.outcomes)).to.equal(c.sent);
    expect(c.tokensLost, "each cut stream lost 10 − 3 tokens").to.equal(7 * c.sent);

    cutAfter = 0;
    const cancel = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 100, durationMs: 2000, maxInFlight: 500, timeoutMs: 3000, mix: [{ ...mix[0]!, cancelShare: 0.5, cancelAfterTokens: 4 }] });
    const series = await cancel.done;
    const t = totalsOver(series);
    await new Promise((r) => setTimeout(r, 100)); // the server notices the last closes at its next step
    expect(t.outcomes.ok, JSON.stringify(t.outcomes)).to.equal(t.sent);
    expect(t.cancelled / t.sent, `${t.cancelled} of ${t.sent} cancelled`).to.be.within(0.35, 0.65);
    expect(closedEarly, "the server saw every cancelled stream close mid-way, and no other").to.equal(t.cancelled);
    expect(t.tokensLost, "a cancel is no loss").to.equal(0);
    // only the streams that ran to [DONE] (10 tokens, 20 ms apart: ≥ 180 ms) are timed
    const timed = series.buckets.reduce((n, b) => n + (b.lat?.count ?? 0), 0);
    expect(timed).to.equal(t.sent - t.cancelled);
    expect(summarize(series).p50Ms ?? 0).to.be.at.least(180);
  });

  it("a surge multiplies the rate from the moment it is set, and 1 puts it back; due times stay on the schedule", async () => {
    await using server = await startHttpServer();
    const run = await new BuiltinLoadEngine().start({ baseUrl: server.url, rate: 100, durationMs: 3000, maxInFlight: 1000, timeoutMs: 2000, mix: DEFAULT_MIX });
    await new Promise((r) => setTimeout(r, 1000));
    run.setRateFactor?.(3);
    expect(run.rateFactor).to.equal(3);
    await new Promise((r) => setTimeout(r, 1000));
    run.setRateFactor?.(1);
    const series = await run.done;
    const sentIn = (from: number, to: number): number => totalsOver(series, series.start + from, series.start + to).sent;
    // 100 + 300 + 100, give or take the moments the messages took to reach the generator's thread
    expect(totalsOver(series).sent).to.be.within(470, 530);
    expect(sentIn(1200, 1800)).to.be.within(170, 190);
    expect(sentIn(2200, 2800)).to.be.within(55, 65);
    expect(totalsOver(series).outcomes.ok).to.equal(totalsOver(series).sent);
  });

  it("open-model schedule: ramps integrate to the right number of requests", () => {
    const load = { baseUrl: "http://x", rate: 0, durationMs: 20_000, maxInFlight: 1, timeoutMs: 1, mix: DEFAULT_MIX, stages: [{ duration: 10_000, target: 100 }, { duration: 10_000, target: 100 }] };
    expect(dueBy(load, 10_000)).to.be.closeTo(500, 1);
    expect(dueBy(load, 20_000)).to.be.closeTo(1500, 1);
    expect(dueBy({ ...load, stages: undefined, rate: 250 }, 4000)).to.equal(1000);
  });

  it("open-model schedule: each request is stamped with the time it fell due, through ramps up and down", () => {
    const load = { baseUrl: "http://x", rate: 200, durationMs: 20_000, maxInFlight: 1, timeoutMs: 1, mix: DEFAULT_MIX, stages: [{ duration: 2500, target: 2000 }, { duration: 5000, target: 2000 }, { duration: 4000, target: 100 }] };
    for (const k of [0, 1, 100, 2749, 2750, 5000, 12_749, 13_000, 16_000]) {
      const t = dueAt(load, k);
      expect(dueBy(load, t), `request ${k} due at ${t.toFixed(1)} ms`).to.be.closeTo(k, 0.01);
    }
    // after the ramp from 200 to 2000 req/s over 2.5 s (2750 requests), request 2750 + 2000·s is due at 2.5 s + s
    expect(dueAt(load, 2750 + 2000 * 3)).to.be.closeTo(5500, 0.01);
    expect(dueAt({ ...load, stages: undefined }, 400)).to.equal(2000);
  });

  it("a ramped load against a fast server measures its latency, not the ramp's schedule lag", async () => {
    await using http = await startHttpServer();
    const run = await new BuiltinLoadEngine().start({ baseUrl: http.url, rate: 50, stages: [{ duration: 1000, target: 500 }, { duration: 1500, target: 500 }], durationMs: 2500, maxInFlight: 1000, timeoutMs: 2000, mix: DEFAULT_MIX });
    const series = await run.done;
    const late = series.buckets.filter((b) => b.t >= series.start + 1500);
    // a local echo answers in a few ms; stamped from the current rate, they trailed the clock by 0.45 s (453 ms measured)
    expect(Math.max(...late.map((b) => b.lat?.p50 ?? 0))).to.be.below(100);
    expect(totalsOver(series).sent).to.be.within(1020, 1030);
  });

  it("streaming requests against the stack report time to first token and inter-token latency matching its config ± 20%", async () => {
    await using stack = await startStack(["replica.timeToFirstTokenMs=150", "replica.interTokenMs=30", "replica.tokenizeMsPer1kTokens=0", "replica.postprocessMs=0"]);
    const mix = [{ ...DEFAULT_MIX[0]!, promptTokens: { min: 8, max: 8 }, maxTokens: 10, streamShare: 1 }];
    const run = await new BuiltinLoadEngine().start({ baseUrl: stack.state.endpoints.gateway, rate: 20, durationMs: 5000, maxInFlight: 500, timeoutMs: 5000, mix });
    const series = await run.done;
    const t = totalsOver(series);
    expect(t.outcomes.ok).to.be.at.least(95);
    expect(t.outcomes.streamCut).to.equal(0);
    const ttft = series.buckets.flatMap((b) => (b.ttft ? [b.ttft.p50] : []));
    const itl = series.buckets.flatMap((b) => (b.itl ? [b.itl.p50] : []));
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    expect(median(ttft), `ttft p50s ${ttft.slice(0, 10)}`).to.be.within(150 * 0.8, 150 * 1.2);
    expect(median(itl), `itl p50s ${itl.slice(0, 10)}`).to.be.within(30 * 0.8, 30 * 1.2);

    // cancelled streams reach the replicas as a closed connection: they stop decoding and count it
    const cancel = await new BuiltinLoadEngine().start({ baseUrl: stack.state.endpoints.gateway, rate: 20, durationMs: 3000, maxInFlight: 500, timeoutMs: 5000, mix: [{ ...mix[0]!, cancelShare: 0.5, cancelAfterTokens: 3 }] });
    const c = totalsOver(await cancel.done);
    expect(c.cancelled, JSON.stringify(c)).to.be.at.least(10);
    await new Promise((r) => setTimeout(r, 2500)); // two scrapes
    const aborted = Number((await promQuery(stack.state, "sum(inference_requests_aborted_total)"))[0]?.value[1] ?? 0);
    expect(aborted, `replicas aborted ${aborted} streams for ${c.cancelled} cancelled`).to.equal(c.cancelled);
  });
});
