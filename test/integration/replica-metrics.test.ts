import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { StackConfig } from "../../lib/stack/config.ts";
import { Replica } from "../../lib/stack/replica.ts";
import { DCGM_PATH } from "../../lib/stack/replica-metrics.ts";
import { RETIRED } from "../../lib/stack/alert-pack.ts";
import { ROOT, freePort } from "../helpers/servers.ts";

interface Upstream {
  labels: string[];
  metrics: { name: string; type: string; help: string; extraLabels?: string[] }[];
}
const UPSTREAM = JSON.parse(readFileSync(join(ROOT, "test/fixtures/upstream/inference-metrics.json"), "utf8")) as { vllm: Upstream; dcgm: Upstream };

interface Family {
  type?: string;
  help?: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** The Prometheus text format, as far as these checks need it: HELP, TYPE and samples with their labels. */
function parse(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (n: string): Family => out.get(n) ?? (out.set(n, { samples: [] }).get(n) as Family);
  for (const line of text.split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2] as string);
      if (meta[1] === "HELP") f.help = meta[3];
      else f.type = meta[3];
      continue;
    }
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!s) continue;
    const name = s[1] as string;
    const base = [...out.keys()].find((k) => name === k || (out.get(k)?.type === "histogram" && /_(bucket|sum|count)$/.test(name) && name.replace(/_(bucket|sum|count)$/, "") === k)) ?? name;
    const labels: Record<string, string> = {};
    for (const m of (s[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] as string] = m[2] as string;
    family(base).samples.push({ name, labels, value: Number(s[3]) });
  }
  return out;
}

/**
 * The simulated replica speaks vLLM and DCGM: every name, type, label and help text it claims,
 * checked against the list kept from upstream (test/fixtures/upstream/inference-metrics.json),
 * and the values made by real requests through its HTTP API.
 */
describe("the replica's vLLM and DCGM metrics, against upstream's names", function () {
  this.timeout(30_000);
  const N = 20;
  const MAX_TOKENS = 8;
  let replica: Replica;
  let url: string;
  let engine: Map<string, Family>;
  let gpu: Map<string, Family>;

  before(async () => {
    const port = await freePort();
    const c = StackConfig.parse({ replica: { loadMs: 0 }, session: { enabled: false } });
    replica = new Replica({ name: "us-east-1", region: "us-east", zone: "us-east-a", host: "127.0.0.1", port, replica: c.replica });
    await replica.start();
    url = `http://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 20));
    const post = (path: string, body: unknown): Promise<Response> => fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    // half whole answers, half streams; the chat ones carry an earlier turn (a 400-character prefix)
    for (let i = 0; i < N; i++) {
      const stream = i % 2 === 1;
      const r =
        i % 4 < 2
          ? await post("/v1/completions", { model: c.replica.model, prompt: "x".repeat(200), max_tokens: MAX_TOKENS, stream })
          : await post("/v1/chat/completions", { model: c.replica.model, messages: [{ role: "user", content: "y".repeat(400) }, { role: "user", content: "z".repeat(200) }], max_tokens: MAX_TOKENS, stream });
      expect(r.status).to.equal(200);
      await r.text();
    }
    engine = parse(await (await fetch(`${url}/metrics`)).text());
    gpu = parse(await (await fetch(`${url}${DCGM_PATH}`)).text());
  });
  after(() => replica?.stop());

  const check = (source: Upstream, families: () => Map<string, Family>) => () => {
    for (const m of source.metrics) {
      const f = families().get(m.name);
      expect(f, `${m.name} exported`).to.not.equal(undefined);
      expect(f?.type, `${m.name} type`).to.equal(m.type);
      expect(f?.help, `${m.name} help`).to.equal(m.help);
      expect(f?.samples.length, `${m.name} has samples`).to.be.above(0);
      const want = [...source.labels, ...(m.extraLabels ?? [])].sort();
      for (const s of f?.samples ?? []) expect(Object.keys(s.labels).filter((l) => l !== "le").sort(), `${s.name} labels`).to.deep.equal(want);
    }
    for (const [name, r] of Object.entries(RETIRED)) expect(families().has(name), `${name} is retired upstream (use ${r.use})`).to.equal(false);
  };

  it("every vLLM name the upstream list holds, with its type, labels and help text; none of the retired names", check(UPSTREAM.vllm, () => engine));
  it("every DCGM exporter field, on its own endpoint, with the exporter's labels", check(UPSTREAM.dcgm, () => gpu));

  it("the values are the requests': successes, tokens, one TTFT per request and one gap per later token", () => {
    const one = (name: string, filter: Record<string, string> = {}): number =>
      [...engine.values()].flatMap((f) => f.samples).filter((s) => s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
    expect(one("vllm:request_success_total", { finished_reason: "length" })).to.equal(N);
    expect(one("vllm:generation_tokens_total")).to.equal(N * MAX_TOKENS);
    // 200 characters ≈ 50 tokens; the chat ones 150, of which 100 were the earlier turn
    expect(one("vllm:prompt_tokens_total")).to.equal((N / 2) * 50 + (N / 2) * 150);
    expect(one("vllm:prefix_cache_queries_total")).to.equal(one("vllm:prompt_tokens_total"));
    expect(one("vllm:prefix_cache_hits_total")).to.equal((N / 2) * 100);
    expect(one("vllm:time_to_first_token_seconds_count")).to.equal(N);
    expect(one("vllm:e2e_request_latency_seconds_count")).to.equal(N);
    expect(one("vllm:request_queue_time_seconds_count")).to.equal(N);
    expect(one("vllm:inter_token_latency_seconds_count")).to.equal(N * (MAX_TOKENS - 1));
    // the decode is 5 ms a token at an empty batch: the gaps' mean is that, give or take the timer
    const itl = one("vllm:inter_token_latency_seconds_sum") / one("vllm:inter_token_latency_seconds_count");
    expect(itl * 1000).to.be.within(4, 20);
    expect(one("vllm:num_requests_running")).to.equal(0);
    expect(one("vllm:kv_cache_usage_perc")).to.equal(0);
    // the seed's three stages, one observation each per request
    for (const stage of ["tokenization", "inference", "postprocessing"]) expect(one("inference_stage_duration_seconds_count", { stage })).to.equal(N);
  });

  it("the GPU: memory used is the weights (nothing in flight), free the rest, no XID", () => {
    const v = (name: string): number => gpu.get(name)?.samples[0]?.value ?? Number.NaN;
    expect(v("DCGM_FI_DEV_FB_USED")).to.equal(14_000);
    expect(v("DCGM_FI_DEV_FB_FREE")).to.equal(24_576 - 14_000);
    expect(v("DCGM_FI_DEV_XID_ERRORS")).to.equal(0);
    expect(gpu.get("DCGM_FI_DEV_GPU_TEMP")?.samples[0]?.labels.Hostname).to.equal("us-east-1");
  });
});

describe("the replica's scheduler, over HTTP: a small KV cache preempts, streams carry every token", function () {
  this.timeout(30_000);
  /** a replica whose KV cache is 250 blocks (4,000 tokens) */
  const start = async (over: Record<string, unknown> = {}): Promise<{ url: string; stop: () => Promise<void> }> => {
    const r = { ...StackConfig.parse({}).replica, weightsMiB: 14_000, gpuMemoryMiB: 14_200, loadMs: 0, ...over };
    const port = await freePort();
    const replica = new Replica({ name: "t-1", region: "t", zone: "t-a", host: "127.0.0.1", port, replica: r });
    await replica.start();
    await new Promise((res) => setTimeout(res, 20));
    return { url: `http://127.0.0.1:${port}`, stop: () => replica.stop() };
  };
  const complete = async (url: string, promptTokens: number, maxTokens: number, stream: boolean): Promise<{ status: number; events: number; tokens: number }> => {
    const res = await fetch(`${url}/v1/completions`, { method: "POST", body: JSON.stringify({ prompt: "abcd".repeat(promptTokens), max_tokens: maxTokens, stream }) });
    const text = await res.text();
    return { status: res.status, events: (text.match(/^data: \{/gm) ?? []).length, tokens: (text.match(/\btok\b/g) ?? []).length };
  };
  const metric = async (url: string, name: string): Promise<number> => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(await (await fetch(`${url}/metrics`)).text())?.[1]);

  it("twenty 300-token sequences in a 4,000-token cache: newer ones preempted and requeued, every one answered in full", async () => {
    const { url, stop } = await start();
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => complete(url, 100, 200, true)));
      expect(answers.map((a) => a.status)).to.deep.equal(Array(20).fill(200));
      expect(answers.map((a) => a.events), "a token an event by default").to.deep.equal(Array(20).fill(200));
      expect(await metric(url, "vllm:num_preemptions_total")).to.be.above(0);
      expect(await metric(url, "vllm:kv_cache_usage_perc"), "every block back").to.equal(0);
    } finally {
      await stop();
    }
  });

  it("a stream interval buffers tokens into fewer events, none lost; a whole answer has them all; a request the cache could never hold is refused", async () => {
    const { url, stop } = await start({ streamIntervalTokens: 16 });
    try {
      const s = await complete(url, 100, 200, true);
      expect(s.tokens).to.equal(200);
      expect(s.events).to.be.within(13, 20);
      expect((await complete(url, 100, 200, false)).tokens).to.equal(200);
      const tooLong = await complete(url, 3900, 200, false);
      expect(tooLong.status).to.equal(400);
    } finally {
      await stop();
    }
  });
});
