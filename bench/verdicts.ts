// npm run bench:verdicts — how far each shipped experiment's verdict can be trusted on this machine:
// every experiment run healthy on `local` (BENCH_HEALTHY times, the first BENCH_AS_SHIPPED of them
// at full length, the rest time-scaled as its both-ways test runs it, or at BENCH_TIME_SCALE), and
// BENCH_MISCONFIGURED times (at that same scale) against the stack
// misconfigured for it (test/helpers/misconfigurations.ts), where the one assertion meant to catch it
// must fail. Each result is appended to BENCH_RESULTS as it lands, and the table is built from the
// whole file, so a long count can be made over several sessions (BENCH_EXPERIMENTS=a,b picks some).
// BENCH_TARGET=testcontainers or kubernetes counts on that target instead (dockerd and the images from
// `make images`, or the control plane from `make k8s-up`, already up); the table has a row per target.
// Run it on an otherwise idle machine: a busy neighbour starves the stack (those runs say inconclusive).
// Timing accuracy, two columns: the judge's failover time minus the same rule applied to the gateway's
// own record per 100 ms of accept time (the run's `crossCheck`: what the clients measured, read from
// the other side of the wire), and minus t0 to the gateway's log marking the faulted region's last
// server DOWN (HAProxy's redispatch carries clients elsewhere before its health checks say so).
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spread } from "../lib/judge/stats.ts";
import { HEALTHY_ARGS, MISCONFIGURED, caughtBy, failedBesidesMaybe } from "../test/helpers/misconfigurations.ts";
import { table } from "./cpu.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const experiments = (process.env.BENCH_EXPERIMENTS ?? Object.keys(MISCONFIGURED).join(",")).split(",").filter(Boolean);
const healthy = Number(process.env.BENCH_HEALTHY ?? 10);
const asShipped = Math.min(healthy, Number(process.env.BENCH_AS_SHIPPED ?? 3));
const misconfigured = Number(process.env.BENCH_MISCONFIGURED ?? 5);
const timeScaleOf = (experiment: string): string => process.env.BENCH_TIME_SCALE ?? MISCONFIGURED[experiment]?.timeScale ?? "0.5";
const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim() || undefined;
const results = process.env.BENCH_RESULTS ?? join(ROOT, "reports", "bench-verdicts.jsonl");
const TARGETS = ["local", "testcontainers", "kubernetes"] as const;
type Target = (typeof TARGETS)[number];
const target = (process.env.BENCH_TARGET ?? "local") as Target;
if (!TARGETS.includes(target)) throw new Error(`BENCH_TARGET=${target}: expected one of ${TARGETS.join(", ")}`);

interface Result {
  at: string;
  /** the commit the run was made at: the stack changes with it, so a table over several says so */
  commit?: string;
  experiment: string;
  /** where it ran; absent on lines written before there was a choice: local */
  target?: Target;
  kind: "healthy" | "misconfigured";
  timeScale: string;
  verdict: string;
  /** why, when not a pass: the record's reason */
  reason?: string;
  /** the run's folder, kept when its verdict was wrong (a healthy run not passing, a misconfigured one not caught); others are removed */
  kept?: string;
  failing: string[];
  /** misconfigured: the assertion meant to catch it failed, and only it */
  caught?: boolean;
  failoverMs?: number;
  /** t0 to HAProxy marking the faulted region's last server DOWN (its log) */
  gatewayFailoverMs?: number;
  /** the failover rule over the gateway's own record per 100 ms of accept time (the assertion's crossCheck) */
  gatewayRecordMs?: number;
  seconds: number;
}

type Recorded = {
  verdict?: string;
  reason?: string;
  assertions: { name: string; kind: string; verdict: string; measured: number | null; crossCheck?: { measured: number | null } }[];
  faults: { name: string; injectedAt?: number; labels: Record<string, string> }[];
  timeline: { t: number; type: string; data?: Record<string, unknown> }[];
};

/** When the gateway itself had routed around the fault's region: its last server there marked DOWN after t0. */
function gatewayFailoverMs(record: Recorded, failover: { name: string } | undefined): number | undefined {
  const spec = record.faults[0];
  const t0 = spec?.injectedAt;
  const region = spec?.labels.region;
  if (failover === undefined || t0 === undefined || region === undefined) return undefined;
  const downs = record.timeline.filter((e) => e.type === "gateway.server-down" && e.t >= t0 && String(e.data?.server ?? "").startsWith(`${region}-`));
  const last = downs.at(-1);
  return last === undefined ? undefined : last.t - t0;
}

/** The one assertion meant to catch it failed, and only it (with those it may fail besides): judged from the failing list, so a correction to the table applies to results already on file. */
const caught = (r: Pick<Result, "experiment" | "failing">): boolean => failedBesidesMaybe(r.experiment, r.failing).join() === caughtBy(r.experiment).join();

function runOnce(experiment: string, kind: Result["kind"], scale: string): Result {
  const out = mkdtempSync(join(ROOT, "reports", "bench-run-"));
  const args = ["bin/faultline.js", "run", `experiments/${experiment}.yaml`, "--target", target, "--out", out, "--time-scale", scale, ...(HEALTHY_ARGS[experiment] ?? []), ...(kind === "misconfigured" ? (MISCONFIGURED[experiment]?.args ?? []) : [])];
  const started = Date.now();
  // one line per run below; each run's own report is removed with its folder (the record is the line), unless its verdict was wrong
  const child = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, CI: "true" } });
  const dir = readdirSync(out).find((d) => d.includes(experiment) && existsSync(join(out, d, "run.json")));
  const record = dir === undefined ? undefined : (JSON.parse(readFileSync(join(out, dir, "run.json"), "utf8")) as Recorded);
  const failing = record?.assertions.filter((a) => a.verdict === "fail").map((a) => a.name) ?? [];
  // a wrong verdict keeps its folder (run.json, the report, the stack's logs): the line alone cannot say why
  const wrong = kind === "healthy" ? record?.verdict !== "pass" : !caught({ experiment, failing });
  if (!wrong) rmSync(out, { recursive: true, force: true });
  const failover = record?.assertions.find((a) => a.kind === "failover" && a.measured !== null);
  const gateway = record === undefined || kind !== "healthy" ? undefined : gatewayFailoverMs(record, failover);
  const gatewayRecord = kind === "healthy" ? failover?.crossCheck?.measured : undefined;
  return {
    at: new Date().toISOString(),
    ...(commit !== undefined ? { commit } : {}),
    experiment,
    target,
    kind,
    timeScale: scale,
    verdict: record?.verdict ?? "error",
    ...(record?.verdict !== "pass" ? { reason: (record?.reason ?? `no run.json was written: ${child.stderr.slice(-400)}`).slice(0, 500) } : {}),
    ...(wrong ? { kept: out } : {}),
    failing,
    ...(kind === "misconfigured" ? { caught: caught({ experiment, failing }) } : {}),
    ...(failover?.measured != null && kind === "healthy" ? { failoverMs: failover.measured } : {}),
    ...(gateway !== undefined ? { gatewayFailoverMs: gateway } : {}),
    ...(gatewayRecord !== undefined && gatewayRecord !== null ? { gatewayRecordMs: gatewayRecord } : {}),
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
    console.log(`${experiment} ${i + 1}/${plan.length} ${kind} on ${target} (time-scale ${at}): ${r.verdict}${r.failing.length ? ` [${r.failing.join(", ")}]` : ""}${r.caught === undefined ? "" : r.caught ? " — caught" : " — NOT caught"} in ${r.seconds}s${r.reason !== undefined && r.kind === "healthy" ? ` — ${r.reason}` : ""}${r.kept !== undefined ? ` (kept: ${r.kept})` : ""}`);
  }
}

// the table, from every result on file
const all = existsSync(results) ? readFileSync(results, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Result) : [];
const count = (rs: Result[], v: string): number => rs.filter((r) => r.verdict === v).length;
const rows = Object.keys(MISCONFIGURED)
  .flatMap((experiment) => TARGETS.map((where) => [experiment, where] as const))
  .map(([experiment, where]) => {
    const mine = all.filter((r) => r.experiment === experiment && (r.target ?? "local") === where);
    const h = mine.filter((r) => r.kind === "healthy");
    const m = mine.filter((r) => r.kind === "misconfigured");
    const fo = h.flatMap((r) => (r.failoverMs === undefined ? [] : [r.failoverMs]));
    const s = fo.length > 0 ? spread(fo) : undefined;
    // timing accuracy: the judge's failover time minus the gateway's, run by run
    const accuracy = (of: (r: Result) => number | undefined): string => {
      const diff = h.flatMap((r) => (r.failoverMs === undefined || of(r) === undefined ? [] : [r.failoverMs - (of(r) as number)]));
      return diff.length > 0 ? `${spread(diff).median.toFixed(0)} ms [${Math.min(...diff).toFixed(0)} … ${Math.max(...diff).toFixed(0)}], n=${diff.length}` : "—";
    };
    return [experiment, where, h.length, count(h, "pass"), count(h, "fail"), count(h, "aborted"), count(h, "inconclusive"), count(h, "error"), `${m.filter(caught).length} of ${m.length}`, s ? `${s.median.toFixed(0)} ms [${s.ci[0].toFixed(0)}–${s.ci[1].toFixed(0)}]` : "—", accuracy((r) => r.gatewayRecordMs), accuracy((r) => r.gatewayFailoverMs)];
  })
  .filter((r) => (r[2] as number) > 0 || r[8] !== "0 of 0");
const commits = [...new Set(all.map((r) => r.commit ?? "(unrecorded)"))];
console.log(`\n${all.length} runs on file (${results}), made at ${commits.length === 1 ? "commit" : "commits"} ${commits.join(", ")}\n`);
console.log(table(["experiment", "target", "healthy runs", "pass", "fail", "aborted", "inconclusive", "error", "misconfigured: caught", "failover median [95 %]", "judge − gateway's record: median [min … max]", "judge − last server DOWN"], rows));
console.log("");
for (const where of TARGETS) {
  const h = all.filter((r) => r.kind === "healthy" && (r.target ?? "local") === where);
  if (h.length === 0) continue;
  const wrong = h.filter((r) => r.verdict === "fail" || r.verdict === "aborted").length;
  console.log(`${where}: ${h.length} healthy runs, wrongly FAIL or ABORTED ${wrong}; inconclusive ${((count(h, "inconclusive") / h.length) * 100).toFixed(1)} % (goal < 5 %)`);
}
