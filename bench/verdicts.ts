// npm run bench:verdicts — how far each shipped experiment's verdict can be trusted on this machine:
// every experiment run healthy on `local` (BENCH_HEALTHY times, the first BENCH_AS_SHIPPED of them
// at full length, the rest time-scaled as its both-ways test runs it, or at BENCH_TIME_SCALE), and
// BENCH_MISCONFIGURED times (at that same scale) against the stack
// misconfigured for it (test/helpers/misconfigurations.ts), where the one assertion meant to catch it
// must fail. Each result is appended to BENCH_RESULTS as it lands, and the table is built from the
// whole file, so a long count can be made over several sessions (BENCH_EXPERIMENTS=a,b picks some).
// Run it on an otherwise idle machine: a busy neighbour starves the stack (those runs say inconclusive).
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spread } from "../lib/judge/stats.ts";
import { HEALTHY_ARGS, MISCONFIGURED } from "../test/helpers/misconfigurations.ts";
import { table } from "./cpu.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const experiments = (process.env.BENCH_EXPERIMENTS ?? Object.keys(MISCONFIGURED).join(",")).split(",").filter(Boolean);
const healthy = Number(process.env.BENCH_HEALTHY ?? 10);
const asShipped = Math.min(healthy, Number(process.env.BENCH_AS_SHIPPED ?? 3));
const misconfigured = Number(process.env.BENCH_MISCONFIGURED ?? 5);
const timeScaleOf = (experiment: string): string => process.env.BENCH_TIME_SCALE ?? MISCONFIGURED[experiment]?.timeScale ?? "0.5";
const results = process.env.BENCH_RESULTS ?? join(ROOT, "reports", "bench-verdicts.jsonl");

interface Result {
  at: string;
  experiment: string;
  kind: "healthy" | "misconfigured";
  timeScale: string;
  verdict: string;
  failing: string[];
  /** misconfigured: the assertion meant to catch it failed, and only it */
  caught?: boolean;
  failoverMs?: number;
  seconds: number;
}

function runOnce(experiment: string, kind: Result["kind"], scale: string): Result {
  const out = mkdtempSync(join(ROOT, "reports", "bench-run-"));
  const args = ["bin/faultline.js", "run", `experiments/${experiment}.yaml`, "--target", "local", "--out", out, "--time-scale", scale, ...(HEALTHY_ARGS[experiment] ?? []), ...(kind === "misconfigured" ? (MISCONFIGURED[experiment]?.args ?? []) : [])];
  const started = Date.now();
  // one line per run below; each run's own report is removed with its folder (the record is the line)
  spawnSync(process.execPath, args, { cwd: ROOT, stdio: "ignore", env: { ...process.env, CI: "true" } });
  const dir = readdirSync(out).find((d) => d.includes(experiment) && existsSync(join(out, d, "run.json")));
  const record = dir === undefined ? undefined : (JSON.parse(readFileSync(join(out, dir, "run.json"), "utf8")) as { verdict?: string; assertions: { name: string; kind: string; verdict: string; measured: number | null }[] });
  rmSync(out, { recursive: true, force: true });
  const failing = record?.assertions.filter((a) => a.verdict === "fail").map((a) => a.name) ?? [];
  const failover = record?.assertions.find((a) => a.kind === "failover" && a.measured !== null);
  return {
    at: new Date().toISOString(),
    experiment,
    kind,
    timeScale: scale,
    verdict: record?.verdict ?? "error",
    failing,
    ...(kind === "misconfigured" ? { caught: failing.length === 1 && failing[0] === MISCONFIGURED[experiment]?.catches } : {}),
    ...(failover?.measured != null && kind === "healthy" ? { failoverMs: failover.measured } : {}),
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

mkdirSync(join(ROOT, "reports"), { recursive: true });
for (const experiment of experiments) {
  if (MISCONFIGURED[experiment] === undefined) throw new Error(`unknown experiment ${experiment} (known: ${Object.keys(MISCONFIGURED).join(", ")})`);
  const scale = timeScaleOf(experiment);
  const plan: [Result["kind"], string][] = [
    ...Array.from({ length: healthy }, (_, i): [Result["kind"], string] => ["healthy", i < asShipped ? "1" : scale]),
    ...Array.from({ length: misconfigured }, (): [Result["kind"], string] => ["misconfigured", scale]),
  ];
  for (const [i, [kind, at]] of plan.entries()) {
    const r = runOnce(experiment, kind, at);
    appendFileSync(results, `${JSON.stringify(r)}\n`);
    console.log(`${experiment} ${i + 1}/${plan.length} ${kind} (time-scale ${at}): ${r.verdict}${r.failing.length ? ` [${r.failing.join(", ")}]` : ""}${r.caught === undefined ? "" : r.caught ? " — caught" : " — NOT caught"} in ${r.seconds}s`);
  }
}

// the table, from every result on file
const all = existsSync(results) ? readFileSync(results, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Result) : [];
const count = (rs: Result[], v: string): number => rs.filter((r) => r.verdict === v).length;
const rows = Object.keys(MISCONFIGURED)
  .map((experiment) => {
    const h = all.filter((r) => r.experiment === experiment && r.kind === "healthy");
    const m = all.filter((r) => r.experiment === experiment && r.kind === "misconfigured");
    const fo = h.flatMap((r) => (r.failoverMs === undefined ? [] : [r.failoverMs]));
    const s = fo.length > 0 ? spread(fo) : undefined;
    return [experiment, h.length, count(h, "pass"), count(h, "fail"), count(h, "aborted"), count(h, "inconclusive"), count(h, "error"), `${m.filter((r) => r.caught).length} of ${m.length}`, s ? `${s.median.toFixed(0)} ms [${s.ci[0].toFixed(0)}–${s.ci[1].toFixed(0)}]` : "—"];
  })
  .filter((r) => (r[1] as number) > 0 || r[7] !== "0 of 0");
console.log(`\n${all.length} runs on file (${results})\n`);
console.log(table(["experiment", "healthy runs", "pass", "fail", "aborted", "inconclusive", "error", "misconfigured: caught", "failover median [95 %]"], rows));
const inconclusive = all.filter((r) => r.kind === "healthy" && r.verdict === "inconclusive").length;
const healthyRuns = all.filter((r) => r.kind === "healthy").length;
console.log(`\nhealthy runs wrongly FAIL or ABORTED: ${all.filter((r) => r.kind === "healthy" && (r.verdict === "fail" || r.verdict === "aborted")).length}; inconclusive ${healthyRuns ? ((inconclusive / healthyRuns) * 100).toFixed(1) : 0} % (goal < 5 %)`);
