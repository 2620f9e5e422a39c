import { expect } from "chai";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { retryUntil } from "../../lib/clock.ts";
import { BuiltinLoadEngine } from "../../lib/load/builtin.ts";
import { BUCKET_MS, errorsOf } from "../../lib/schema/series.ts";
import type { LoadSeries } from "../../lib/schema/series.ts";
import { DEFAULT_MIX } from "../../lib/load/types.ts";
import { firingAlerts, startStack } from "../helpers/stack.ts";
import type { StartedStack } from "../helpers/stack.ts";

interface Notification {
  receiver: string;
  status: string;
  alerts: { status: string; labels: Record<string, string> }[];
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function waitUntil<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  return retryUntil(fn, ok, ({ elapsedMs, value }) => new Error(`${what}: not true after ${elapsedMs}ms (last: ${JSON.stringify(value)?.slice(0, 300)})`), {
    timeoutMs,
    intervalMs: 200,
  });
}

/** Error rate of 1 s windows of the series: [window start, rate, regions] */
function windows(series: LoadSeries, ms = 1000): { t: number; rate: number; regions: Record<string, number> }[] {
  const out: { t: number; rate: number; regions: Record<string, number> }[] = [];
  const per = ms / BUCKET_MS;
  for (let i = 0; i + per <= series.buckets.length; i += per) {
    const bs = series.buckets.slice(i, i + per);
    const sent = bs.reduce((s, b) => s + b.sent, 0);
    const err = bs.reduce((s, b) => s + errorsOf(b.outcomes), 0);
    const regions: Record<string, number> = {};
    for (const b of bs) for (const [k, v] of Object.entries(b.regions)) regions[k] = (regions[k] ?? 0) + v;
    out.push({ t: bs[0]?.t ?? 0, rate: sent ? err / sent : 0, regions });
  }
  return out;
}

describe("stack behaviour: failover, GPU OOM, streaming, rollouts, alerts (real servers)", function () {
  this.timeout(180_000);
  let stack: StartedStack;
  const notifications: Notification[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      notifications.push(JSON.parse(body) as Notification);
      res.end();
    });
  });

  before(async () => {
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
    stack = await startStack([
      "rollout.analysisIntervalSeconds=3",
      "replica.timeToFirstTokenMs=100",
      "replica.interTokenMs=25",
      "replica.restartBackoffMs=1000",
      `alerting.webhookUrl=${hook}`,
      "alerts.forSeconds=1",
    ]);
  });
  after(async () => {
    await stack?.down();
    receiver.closeAllConnections();
    receiver.close();
  });

  // routed as the seed says: one region down (P1) to the team's chat, a replica lost to OOM (critical) to the pager
  const alertNotified = (name: string, receiver: string): boolean => notifications.some((n) => n.receiver === receiver && n.alerts.some((a) => a.labels.alertname === name && a.status === "firing"));

  it("failover: every us-east replica stopped under load → error rate ≤ 1% within 10 s, us-west serves everything, RegionDown fires", async () => {
    const s = stack.state;
    const load = await new BuiltinLoadEngine().start({ baseUrl: s.endpoints.gateway, rate: 200, durationMs: 20_000, maxInFlight: 2000, timeoutMs: 5000, mix: DEFAULT_MIX.map((t) => ({ ...t, maxTokens: 4 })) });
    await new Promise((r) => setTimeout(r, 4000));
    const killedAt = Date.now();
    for (const r of ["us-east-1", "us-east-2", "us-east-3"]) {
      const k = await post(`${s.endpoints.control}/replicas/${r}/kill`, { restart: false });
      expect(k.status).to.equal(200);
    }
    const series = await load.done;
    const w = windows(series);
    const after = w.filter((x) => x.t >= killedAt);
    const settled = after.findIndex((_, i) => after.slice(i).every((x) => x.rate <= 0.01));
    expect(settled, `error rate per second after the kill: ${after.map((x) => x.rate.toFixed(3)).join(" ")}`).to.be.at.least(0);
    const settleMs = (after[settled]?.t ?? Infinity) - killedAt + 1000;
    expect(settleMs, "time until the error rate stays ≤ 1%").to.be.at.most(10_000);
    const tail = after.slice(settled + 1);
    for (const x of tail) expect(Object.keys(x.regions), JSON.stringify(x.regions)).to.deep.equal(["us-west"]);
    await waitUntil("RegionDown firing for us-east", () => firingAlerts(s), (as) => as.some((a) => a.labels.alertname === "RegionDown" && a.labels.region === "us-east" && a.state === "firing"), 15_000);
    await waitUntil("RegionDown delivered to chat", async () => alertNotified("RegionDown", "chat"), (x) => x, 15_000);
    for (const r of ["us-east-1", "us-east-2", "us-east-3"]) await post(`${s.endpoints.control}/replicas/${r}/start`, {});
    await waitUntil("us-east back in the gateway", async () => (await (await fetch(`${s.endpoints.control}/state`)).json()) as { processes: { name: string; state: string }[] }, (st) => st.processes.filter((p) => p.name.startsWith("replica-us-east")).every((p) => p.state === "running"), 10_000);
  });

  it("GPU OOM: a request past capacity fails with CUDA OOM, the process exits and is restarted after a growing back-off; GPUOutOfMemory fires and is delivered", async () => {
    const s = stack.state;
    const rep = s.replicas.find((r) => r.name === "us-west-2");
    if (rep === undefined) throw new Error("no us-west-2");
    const pidOf = async (): Promise<number | null> => {
      const st = (await (await fetch(`${s.endpoints.control}/state`)).json()) as { processes: { name: string; pid?: number; state: string }[] };
      const p = st.processes.find((x) => x.name === "replica-us-west-2");
      return p?.state === "running" ? (p.pid ?? null) : null;
    };
    const ready = (): Promise<boolean> => fetch(`${rep.url}/readyz`).then((r) => r.ok, () => false);
    const pid0 = await pidOf();
    // Fill the GPU but for a sliver, then ask for a KV cache that does not fit.
    const gpu = (await (await fetch(`${rep.url}/admin/state`)).json()) as { gpu: { capacityMiB: number; usedMiB: number } };
    await post(`${rep.url}/admin/gpu-pressure`, { setMiB: gpu.gpu.capacityMiB - gpu.gpu.usedMiB - 1 });
    const t0 = Date.now();
    const res = await post(`${rep.url}/v1/chat/completions`, { messages: [{ role: "user", content: "x".repeat(4000) }], max_tokens: 1000 });
    expect(res.status).to.equal(507);
    expect(String((res.json.error as { message: string }).message)).to.match(/CUDA out of memory/);
    await waitUntil("replica process exits", pidOf, (p) => p === null || p !== pid0, 5000);
    await waitUntil("replica restarted and ready", ready, (x) => x, 10_000);
    const firstBack = Date.now() - t0;
    const pid1 = await pidOf();
    expect(pid1).to.be.a("number").and.not.equal(pid0);
    // A second OOM right away: the crash loop's back-off grows.
    const t1 = Date.now();
    await post(`${rep.url}/admin/gpu-pressure`, { setMiB: 1e9 });
    await waitUntil("replica exits again", pidOf, (p) => p !== pid1, 5000);
    await waitUntil("replica restarted again", ready, (x) => x, 15_000);
    const secondBack = Date.now() - t1;
    expect(secondBack, `first restart after ${firstBack}ms, second after ${secondBack}ms`).to.be.greaterThan(firstBack + 500);
    await waitUntil("GPUOutOfMemory firing", () => firingAlerts(s), (as) => as.some((a) => a.labels.alertname === "GPUOutOfMemory" && a.state === "firing"), 15_000);
    await waitUntil("GPUOutOfMemory delivered to the pager", async () => alertNotified("GPUOutOfMemory", "pager"), (x) => x, 15_000);
  });

  it("streaming: SSE chunks arrive with the configured time to first token and inter-token gap ± 20%", async () => {
    const s = stack.state;
    const ttfts: number[] = [];
    const gaps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await fetch(`${s.endpoints.gateway}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ messages: [{ role: "user", content: "hello" }], max_tokens: 12, stream: true }),
      });
      expect(res.headers.get("content-type")).to.match(/text\/event-stream/);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      let last = 0;
      let text = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const now = performance.now();
        const chunk = new TextDecoder().decode(value);
        text += chunk;
        const events = chunk.split("\n\n").filter((e) => e.startsWith("data: {")).length;
        if (events === 0) continue;
        if (last === 0) ttfts.push(now - t0);
        else gaps.push((now - last) / events);
        last = now;
      }
      expect(text).to.match(/data: \[DONE\]/);
      expect(text.match(/chat\.completion\.chunk/g)).to.have.length(12);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    expect(median(ttfts), `ttfts ${ttfts.map(Math.round)}`).to.be.within(80, 120 + 5);
    expect(median(gaps), `gaps ${gaps.slice(0, 20).map(Math.round)}`).to.be.within(20, 30);
  });

  it("rollout: a regressed version is rolled back automatically within 60 s, CanaryRolledBack fires, the stable version serves everything", async () => {
    const s = stack.state;
    const load = await new BuiltinLoadEngine().start({ baseUrl: s.endpoints.gateway, rate: 100, durationMs: 40_000, maxInFlight: 2000, timeoutMs: 5000, mix: DEFAULT_MIX.map((t) => ({ ...t, maxTokens: 4 })) });
    try {
      await new Promise((r) => setTimeout(r, 4000));
      const t0 = Date.now();
      const started = await post(`${s.endpoints.rollout}/rollouts`, { version: "v2-bad" });
      expect(started.status).to.equal(202);
      const cur = await waitUntil(
        "rollout rolled back",
        async () => ((await (await fetch(`${s.endpoints.rollout}/rollouts/current`)).json()) as { rollout: { state: string; endedAt?: number } }).rollout,
        (r) => r.state !== "running",
        60_000,
      );
      expect(cur.state).to.equal("rolled-back");
      expect((cur.endedAt ?? Infinity) - t0).to.be.below(60_000);
      await waitUntil("CanaryRolledBack firing", () => firingAlerts(s), (as) => as.some((a) => a.labels.alertname === "CanaryRolledBack" && a.state === "firing"), 15_000);
      const versions = new Set<string>();
      for (let i = 0; i < 60; i++) {
        const res = await fetch(`${s.endpoints.gateway}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ max_tokens: 1 }) });
        await res.arrayBuffer();
        versions.add(res.headers.get("x-faultline-version") ?? "none");
      }
      expect([...versions]).to.deep.equal(["sim-7b:v1"]);
    } finally {
      await load.stop();
    }
  });

  it("retry budget: client retries past 20 % of the traffic (+ 10/s) get a 429 at the gateway and never reach a replica", async () => {
    const s = stack.state;
    const received = async (): Promise<number> => {
      let n = 0;
      for (const r of s.replicas) n += Number(/^inference_requests_received_total (\d+)/m.exec(await (await fetch(`${r.url}/metrics`)).text())?.[1] ?? 0);
      return n;
    };
    // the budget counts the last second's requests: let the tests before this one's traffic age out of it
    await new Promise((r) => setTimeout(r, 2500));
    const before = await received();
    const send = async (retry: boolean): Promise<{ status: number; type?: string }> => {
      const res = await fetch(`${s.endpoints.gateway}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...(retry ? { "x-retry-attempt": "1" } : {}) }, body: JSON.stringify({ max_tokens: 1 }) });
      const body = (await res.json()) as { error?: { type?: string } };
      return { status: res.status, ...(body.error?.type ? { type: body.error.type } : {}) };
    };
    // 60 first tries and 60 retries, interleaved, within a second: about 0.2 × 120 + 10 retries fit the budget
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => send(i % 2 === 1)));
    const retries = answers.filter((_, i) => i % 2 === 1);
    const refused = retries.filter((a) => a.status === 429 && a.type === "retry_budget").length;
    expect(answers.filter((_, i) => i % 2 === 0).every((a) => a.status === 200), "first tries all served").to.equal(true);
    expect(refused, JSON.stringify(retries)).to.be.within(20, 50);
    expect(retries.filter((a) => a.status === 200).length).to.equal(60 - refused);
    await new Promise((r) => setTimeout(r, 200));
    expect(await received(), "requests that reached a replica").to.equal(before + 120 - refused);
  });

  it("rollout: a good version is promoted to 100%", async () => {
    const s = stack.state;
    const load = await new BuiltinLoadEngine().start({ baseUrl: s.endpoints.gateway, rate: 100, durationMs: 40_000, maxInFlight: 2000, timeoutMs: 5000, mix: DEFAULT_MIX.map((t) => ({ ...t, maxTokens: 4 })) });
    try {
      await new Promise((r) => setTimeout(r, 2000));
      expect((await post(`${s.endpoints.rollout}/rollouts`, { version: "v2" })).status).to.equal(202);
      const cur = await waitUntil(
        "rollout finished",
        async () => ((await (await fetch(`${s.endpoints.rollout}/rollouts/current`)).json()) as { rollout: { state: string }; stable: string }),
        (r) => r.rollout.state !== "running",
        60_000,
      );
      expect(cur.rollout.state).to.equal("promoted");
      expect(cur.stable).to.equal("v2");
      const versions = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`${s.endpoints.gateway}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ max_tokens: 1 }) });
        await res.arrayBuffer();
        versions.add(res.headers.get("x-faultline-version") ?? "none");
      }
      expect([...versions]).to.deep.equal(["sim-7b:v2"]);
    } finally {
      await load.stop();
    }
  });
});
