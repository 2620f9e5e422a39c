// npm run bench:cascade — the congestion-collapse curve: offered load from 0.5× to 4× the fleet's
// capacity, goodput and p99 with the replicas' load shedding on and off. A table here, and the two
// curves as charts in an HTML report (BENCH_OUT, default reports/bench-cascade.html).
//
// The fleet is small on purpose (one region, two replicas, 32 sequences each): 4× its capacity must
// fit on two cores beside the generator, or the curve would be the machine's, not the fleet's. The
// gateway's per-replica connection limit is raised out of the way, so the replica's own queue is
// the only one: with shedding off it grows until requests wait longer than clients do.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BuiltinLoadEngine } from "../lib/load/builtin.ts";
import type { RequestTemplate } from "../lib/load/types.ts";
import { latencyOver, totalsOver } from "../lib/schema/series.ts";
import { loadStackConfig } from "../lib/stack/config.ts";
import { stackDown, stackUp } from "../lib/stack/lifecycle.ts";
import { table } from "./cpu.ts";

const MULTIPLES = (process.env.BENCH_MULTIPLES ?? "0.5,1,1.5,2,3,4").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 1000);
const OUT = process.env.BENCH_OUT ?? "reports/bench-cascade.html";
const FLEET = [
  "regions=[{name: us-east, weight: 100, replicas: 2, zones: 1}]",
  "replica.maxBatch=32",
  "replica.maxQueue=24", // about 0.1 s of waiting at this capacity, as the default 128 is at 1,250 req/s
  "gateway.circuitBreaker.maxConnections=10000",
  "gateway.queueTimeoutMs=10000",
];
const MIX: RequestTemplate[] = [{ name: "chat", weight: 1, path: "/v1/chat/completions", model: "sim-7b", promptTokens: { min: 32, max: 256 }, maxTokens: 16, streamShare: 0 }];

interface Cell {
  shedding: boolean;
  multiple: number;
  offered: number;
  goodput: number;
  share: number;
  p99: number | null;
  shed: number;
  timeouts: number;
}

/** The fleet's capacity as its replicas state it (requests a second at a full batch, for the mix they saw). */
async function fleetCapacity(urls: readonly string[]): Promise<number> {
  let sum = 0;
  for (const url of urls) sum += Number(/^inference_capacity_requests_per_second (\S+)/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);
  return sum;
}

async function curve(shedding: boolean): Promise<Cell[]> {
  const dir = mkdtempSync(join(tmpdir(), "faultline-bench-cascade-"));
  const state = await stackUp(await loadStackConfig(undefined, [...FLEET, `replica.shedding=${shedding}`]), { dir });
  const engine = new BuiltinLoadEngine();
  const run = async (rate: number, seconds: number): Promise<Awaited<ReturnType<typeof totalsOver>> & { p99: number | null }> => {
    const load = await engine.start({ baseUrl: state.endpoints.gateway, rate, durationMs: seconds * 1000, maxInFlight: 20_000, timeoutMs: TIMEOUT_MS, mix: MIX });
    const series = await load.done;
    return { ...totalsOver(series), p99: latencyOver(series, -Infinity, Infinity, "latHdr")?.p99 ?? null };
  };
  try {
    await run(100, 3); // warm-up: connections, JIT, and the replicas' view of the mix
    const capacity = await fleetCapacity(state.replicas.map((r) => r.url));
    if (!Number.isFinite(capacity) || capacity <= 0) throw new Error("the replicas state no capacity (inference_capacity_requests_per_second)");
    const cells: Cell[] = [];
    for (const multiple of MULTIPLES) {
      const offered = Math.round(capacity * multiple);
      const t = await run(offered, SECONDS);
      const cell = { shedding, multiple, offered, goodput: t.outcomes.ok / SECONDS, share: t.outcomes.ok / Math.max(1, t.sent), p99: t.p99, shed: t.outcomes.s429, timeouts: t.outcomes.timeout };
      cells.push(cell);
      console.error(`bench:cascade: shedding ${shedding ? "on" : "off"}, ${multiple}× capacity (${offered} req/s): goodput ${cell.goodput.toFixed(0)}/s, p99 ${cell.p99?.toFixed(0) ?? "n/a"} ms`);
      await new Promise((r) => setTimeout(r, 2000)); // the queue drains between cells
    }
    console.error(`bench:cascade: fleet capacity ${capacity.toFixed(0)} req/s (2 replicas × ${(capacity / 2).toFixed(0)})`);
    return cells;
  } finally {
    await stackDown({ dir });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One chart: x = offered load as a multiple of capacity, one line per configuration. Inline SVG, nothing to load. */
function svgChart(title: string, unit: string, lines: { name: string; colour: string; points: [number, number][] }[]): string {
  const W = 560;
  const H = 300;
  const pad = { l: 60, r: 20, t: 30, b: 40 };
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = lines.flatMap((l) => l.points.map((p) => p[1]));
  const xMax = Math.max(...xs);
  const yMax = Math.max(1, ...ys) * 1.1;
  const x = (v: number): number => pad.l + (v / xMax) * (W - pad.l - pad.r);
  const y = (v: number): number => H - pad.b - (v / yMax) * (H - pad.t - pad.b);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * yMax);
  const grid = ticks.map((v) => `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`).join("");
  const xt = [...new Set(xs)].map((v) => `<text x="${x(v)}" y="${H - pad.b + 16}" text-anchor="middle">${v}×</text>`).join("");
  const paths = lines
    .map((l) => `<polyline fill="none" stroke="${l.colour}" stroke-width="2" points="${l.points.map(([a, b]) => `${x(a)},${y(b)}`).join(" ")}"/>` + l.points.map(([a, b]) => `<circle cx="${x(a)}" cy="${y(b)}" r="3" fill="${l.colour}"/>`).join(""))
    .join("");
  const legend = lines.map((l, i) => `<text x="${pad.l + 10 + i * 150}" y="${pad.t - 10}" fill="${l.colour}">■ ${l.name}</text>`).join("");
  return `<figure><figcaption>${title}</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">${grid}${xt}${paths}${legend}<text x="${W / 2}" y="${H - 6}" text-anchor="middle">offered load ÷ fleet capacity</text><text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">${unit}</text></svg></figure>`;
}

const on = await curve(true);
const off = await curve(false);
const rows = MULTIPLES.map((m, i) => {
  const a = on[i] as Cell;
  const b = off[i] as Cell;
  const p = (c: Cell): string => (c.p99 === null ? "n/a" : `${c.p99.toFixed(0)} ms`);
  return [`${m}×`, a.offered, a.goodput.toFixed(0), `${(a.share * 100).toFixed(1)} %`, p(a), b.goodput.toFixed(0), `${(b.share * 100).toFixed(1)} %`, p(b)];
});
console.log(`\nbench:cascade — ${SECONDS} s per cell, clients time out at ${TIMEOUT_MS} ms; goodput = successful requests per second\n`);
console.log(table(["offered", "req/s", "goodput (shedding on)", "share", "p99", "goodput (shedding off)", "share", "p99"], rows));
const line = (cells: Cell[], f: (c: Cell) => number | null): [number, number][] => cells.flatMap((c) => (f(c) === null ? [] : [[c.multiple, f(c) as number] as [number, number]]));
const html = `<!doctype html><meta charset="utf-8"><title>bench:cascade</title><body style="font-family:sans-serif;max-width:1200px;margin:2em auto">
<h1>The congestion-collapse curve</h1>
<p>One region, two replicas of 32 sequences each; offered load from ${MULTIPLES[0]}× to ${MULTIPLES.at(-1)}× the capacity the replicas state; clients time out at ${TIMEOUT_MS} ms; ${SECONDS} s per point. Generated ${new Date().toISOString()}.</p>
<div style="display:flex;flex-wrap:wrap;gap:2em">
${svgChart("Goodput: successful requests per second", "req/s", [
  { name: "shedding on", colour: "#1b7f3b", points: line(on, (c) => c.goodput) },
  { name: "shedding off", colour: "#c0392b", points: line(off, (c) => c.goodput) },
  { name: "offered", colour: "#999", points: line(on, (c) => c.offered) },
])}
${svgChart("p99 of every answer (timeouts included)", "ms", [
  { name: "shedding on", colour: "#1b7f3b", points: line(on, (c) => c.p99) },
  { name: "shedding off", colour: "#c0392b", points: line(off, (c) => c.p99) },
])}
</div>
<pre>${table(["offered", "req/s", "goodput (shedding on)", "share", "p99", "goodput (shedding off)", "share", "p99"], rows)}</pre>
</body>`;
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, html);
console.log(`\nchart: ${OUT}`);
