import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { writeFile } from "node:fs/promises";
import { ExitCode, FaultlineError } from "../errors.ts";
import { k6Script } from "../load/k6.ts";
import { loadOne } from "../loader/documents.ts";
import { loadEngine } from "../load/registry.ts";
import { summarize } from "../load/summary.ts";
import { DEFAULT_MIX } from "../load/types.ts";
import { durationMs, positiveNumber } from "./options.ts";

const share = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("expected a share between 0 and 1");
  return n;
};

/**
 * A cold generator and server opening thousands of connections and compiling their hot paths in the
 * first second drop requests past the in-flight cap (10,000 req/s cold: 2.5 % dropped, 96.7 % of
 * the rate, on 2 cores): above 1,000 req/s a ramp of 1 s per 1,000 req/s, at most 10 s, comes first.
 */
export function defaultWarmupMs(rate: number): number {
  return rate > 1000 ? Math.min(10_000, rate) : 0;
}

export function addLoadCommands(program: Command, setExit: (code: number) => void): void {
  const load = program.command("load").description("drive load on its own, outside an experiment");
  load
    .command("export-k6")
    .description("write the k6 script for an experiment's load profile, to run with your own k6")
    .argument("<experiment>", "an experiment file with a load: section")
    .option("-o, --output <file>", "where to write it (default: stdout)")
    .option("--base-url <url>", "the gateway URL baked into the script (FAULTLINE_BASE_URL overrides it at run time)", "http://127.0.0.1:8080")
    .action(async (file: string, f: { output?: string; baseUrl: string }) => {
      const exp = await loadOne(file, "Experiment");
      if (exp.load === undefined) throw new FaultlineError("E_INVALID_INPUT", `${file} has no load: section to export`);
      const totalMs = exp.phases.warmup + exp.phases.baseline + Math.max(0, ...exp.faults.map((x) => x.at + x.duration)) + exp.phases.recovery;
      const script = k6Script({
        baseUrl: f.baseUrl,
        rate: exp.load.rate,
        ...(exp.load.stages ? { stages: exp.load.stages } : {}),
        durationMs: totalMs,
        maxInFlight: exp.load.maxInFlight,
        timeoutMs: exp.load.timeout,
        mix: exp.load.mix ?? DEFAULT_MIX,
      });
      if (f.output) await writeFile(f.output, script);
      else process.stdout.write(script);
      setExit(ExitCode.pass);
    });
  load
    .command("run", { isDefault: true })
    .description("a quick standalone load run: achieved rate, outcomes and p50/p95/p99")
    .argument("<url>", "base URL, e.g. http://127.0.0.1:8080 (requests go to the template's path)")
    .requiredOption("--rate <n>", "requests per second (open model)", positiveNumber)
    .requiredOption("--duration <d>", "how long, e.g. 30s", durationMs)
    .addOption(new Option("--engine <name>", "the load engine").choices(["builtin", "k6"]).default("builtin"))
    .option("--stream-share <f>", "share of requests with stream: true", share, 0)
    .option("--max-tokens <n>", "max_tokens per request", positiveNumber, 16)
    .option("--path <path>", "request path", "/v1/chat/completions")
    .option("--timeout <d>", "per-request timeout", durationMs, 10_000)
    .option("--max-in-flight <n>", "requests in flight before new ones are dropped", positiveNumber, 10_000)
    .option("--warmup <d>", "ramp from a tenth of the rate up to it before the measured duration, reported apart (default: 1 s per 1,000 req/s above 1,000, at most 10 s; 0: none)", durationMs)
    .option("--json", "print the summary as JSON")
    .action(async (url: string, f: { rate: number; duration: number; engine: "builtin" | "k6"; streamShare: number; maxTokens: number; path: string; timeout: number; maxInFlight: number; warmup?: number; json?: boolean }) => {
      const engine = loadEngine(f.engine);
      const mix = DEFAULT_MIX.map((t) => ({ ...t, path: f.path, maxTokens: f.maxTokens, streamShare: f.streamShare }));
      const warmMs = f.warmup ?? defaultWarmupMs(f.rate);
      // One run, so the measured part keeps the connections and the compiled code the ramp warmed up.
      const stages = warmMs > 0 ? { stages: [{ duration: warmMs, target: f.rate }, { duration: f.duration, target: f.rate }] } : {};
      if (warmMs > 0 && !f.json) process.stderr.write(`warming up: ${f.rate / 10} → ${f.rate} req/s over ${(warmMs / 1000).toFixed(1)}s, then ${(f.duration / 1000).toFixed(1)}s measured\n`);
      const run = await engine.start({ baseUrl: url, rate: warmMs > 0 ? f.rate / 10 : f.rate, ...stages, durationMs: warmMs + f.duration, maxInFlight: f.maxInFlight, timeoutMs: f.timeout, mix });
      const series = await run.done;
      const s = { ...summarize(series, warmMs), targetRate: f.rate };
      const warm = warmMs > 0 ? summarize({ ...series, buckets: series.buckets.slice(0, Math.ceil(warmMs / series.bucketMs)) }) : undefined;
      if (f.json) process.stdout.write(`${JSON.stringify(warm ? { ...s, warmup: warm } : s, null, 2)}\n`);
      else {
        const o = s.outcomes;
        if (warm) process.stdout.write(`warm-up: ${warm.sent} sent, ${warm.errors} errors (not counted below)\n`);
        process.stdout.write(
          `${s.engine}: ${s.sent} sent, achieved ${s.achievedRate} req/s of ${s.targetRate} over ${(s.durationMs / 1000).toFixed(1)}s\n` +
            `  ok ${o.ok}  5xx ${o.s5xx}  4xx ${o.s4xx}  429 ${o.s429}  timeout ${o.timeout}  conn ${o.connError}  stream-cut ${o.streamCut} (${s.tokensLost} tokens lost)  dropped ${o.dropped}${s.cancelled > 0 ? `  cancelled by clients ${s.cancelled}` : ""}\n` +
            `  latency p50 ${s.p50Ms?.toFixed(1)}ms  p95 ${s.p95Ms?.toFixed(1)}ms  p99 ${s.p99Ms?.toFixed(1)}ms  max ${s.maxMs?.toFixed(1)}ms\n` +
            (Object.keys(s.regions).length ? `  regions ${Object.entries(s.regions).map(([k, v]) => `${k}=${v}`).join(" ")}\n` : ""),
        );
      }
      setExit(s.errors > 0 ? ExitCode.fail : ExitCode.pass);
    });
}
