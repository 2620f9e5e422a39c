import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { ExitCode } from "../errors.ts";
import { loadEngine } from "../load/registry.ts";
import { summarize } from "../load/summary.ts";
import { DEFAULT_MIX } from "../load/types.ts";
import { parseDuration } from "../spec/duration.ts";

const duration = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError("expected a duration such as 10s or 2m");
  return ms;
};
const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
};
const share = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("expected a share between 0 and 1");
  return n;
};

export function addLoadCommands(program: Command, setExit: (code: number) => void): void {
  const load = program.command("load").description("drive load on its own, outside an experiment");
  load
    .command("run", { isDefault: true })
    .description("a quick standalone load run: achieved rate, outcomes and p50/p95/p99")
    .argument("<url>", "base URL, e.g. http://127.0.0.1:8080 (requests go to the template's path)")
    .requiredOption("--rate <n>", "requests per second (open model)", positive)
    .requiredOption("--duration <d>", "how long, e.g. 30s", duration)
    .option("--engine <name>", "builtin | k6", "builtin")
    .option("--stream-share <f>", "share of requests with stream: true", share, 0)
    .option("--max-tokens <n>", "max_tokens per request", positive, 16)
    .option("--path <path>", "request path", "/v1/chat/completions")
    .option("--timeout <d>", "per-request timeout", duration, 10_000)
    .option("--max-in-flight <n>", "requests in flight before new ones are dropped", positive, 10_000)
    .option("--json", "print the summary as JSON")
    .action(async (url: string, f: { rate: number; duration: number; engine: string; streamShare: number; maxTokens: number; path: string; timeout: number; maxInFlight: number; json?: boolean }) => {
      const engine = loadEngine(f.engine);
      const mix = DEFAULT_MIX.map((t) => ({ ...t, path: f.path, maxTokens: f.maxTokens, streamShare: f.streamShare }));
      const run = await engine.start({ baseUrl: url, rate: f.rate, durationMs: f.duration, maxInFlight: f.maxInFlight, timeoutMs: f.timeout, mix });
      const s = summarize(await run.done);
      if (f.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else {
        const o = s.outcomes;
        process.stdout.write(
          `${s.engine}: ${s.sent} sent, achieved ${s.achievedRate} req/s of ${s.targetRate} over ${(s.durationMs / 1000).toFixed(1)}s\n` +
            `  ok ${o.ok}  5xx ${o.s5xx}  4xx ${o.s4xx}  429 ${o.s429}  timeout ${o.timeout}  conn ${o.connError}  stream-cut ${o.streamCut}  dropped ${o.dropped}\n` +
            `  latency p50 ${s.p50Ms}ms  p95 ${s.p95Ms}ms  p99 ${s.p99Ms}ms  max ${s.maxMs}ms\n` +
            (Object.keys(s.regions).length ? `  regions ${Object.entries(s.regions).map(([k, v]) => `${k}=${v}`).join(" ")}\n` : ""),
        );
      }
      setExit(s.errors > 0 ? ExitCode.fail : ExitCode.pass);
    });
}
