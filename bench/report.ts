// npm run bench:report — the report of a 10-minute run at 10,000 QPS: its size, and how long
// Chromium takes to render it (navigation to charts drawn), against a 1-minute run as baseline.
/// <reference lib="dom" />
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as hdr from "hdr-histogram-js";
import { chromium } from "playwright-core";
import { BUCKET_MS, emptyOutcomes, newHistogram, quantiles } from "../lib/schema/series.ts";
import type { LoadBucket } from "../lib/schema/series.ts";
import { renderRunHtml } from "../lib/report/html.ts";
import type { RunRecord } from "../lib/schema/run-record.ts";
import { table } from "./cpu.ts";

function synthetic(minutes: number, rate: number): RunRecord {
  const start = Date.UTC(2026, 10, 26, 12);
  const n = (minutes * 60_000) / BUCKET_MS;
  const perBucket = (rate * BUCKET_MS) / 1000;
  const faultFrom = n * 0.25;
  const faultTo = n * 0.75;
  const buckets: LoadBucket[] = [];
  for (let i = 0; i < n; i++) {
    const inFault = i >= faultFrom && i < faultTo;
    const h = newHistogram();
    // a realistic spread: ~1,000 latencies per bucket around 40 ms, slower in the fault
    for (let j = 0; j < perBucket; j++) h.recordValue(Math.round((inFault ? 120 : 40) * 1000 * (0.5 + Math.random() * Math.random() * 3)));
    const errors = inFault && i < faultFrom + 50 ? Math.round(perBucket * 0.3) : 0;
    buckets.push({
      t: start + i * BUCKET_MS,
      sent: perBucket,
      outcomes: { ...emptyOutcomes(), ok: perBucket - errors, s5xx: errors },
      lat: quantiles(h),
      latHdr: hdr.encodeIntoCompressedBase64(h),
      ttft: null,
      itl: null,
      regions: inFault ? { "us-west": perBucket - errors } : { "us-east": Math.round(perBucket * 0.7), "us-west": Math.round(perBucket * 0.3) },
      versions: { "sim-7b:v1": perBucket - errors },
    });
    h.destroy();
  }
  const end = start + n * BUCKET_MS;
  const timeline = Array.from({ length: 200 }, (_, i) => ({ t: start + (i * (end - start)) / 200, type: i % 3 === 0 ? "alert.firing" : "alert.resolved", message: `alert ${i}`, data: { labels: { alertname: "HighP99Latency" } } }));
  return {
    schemaVersion: 1,
    runId: `bench-${minutes}m`,
    experiment: { name: "bench", hypothesis: "synthetic" },
    target: { name: "local" },
    startedAt: start,
    endedAt: end,
    timeScale: 1,
    phases: [
      { name: "baseline", start, end: start + faultFrom * BUCKET_MS },
      { name: "fault", start: start + faultFrom * BUCKET_MS, end: start + faultTo * BUCKET_MS },
      { name: "recovery", start: start + faultTo * BUCKET_MS, end },
    ],
    faults: [{ name: "partition", kind: "region-outage", targets: ["us-east-1"], labels: { region: "us-east" }, plannedAt: 0, plannedDuration: 0, injectedAt: start + faultFrom * BUCKET_MS, revertedAt: start + faultTo * BUCKET_MS, actions: [] }],
    assertions: [{ name: "failover", kind: "failover", verdict: "pass", measured: 4200, limit: 30_000, unit: "ms", window: { start: start + faultFrom * BUCKET_MS, end: start + faultTo * BUCKET_MS }, message: "synthetic", evidence: [] }],
    timeline,
    series: { probes: {}, load: { version: 1, engine: "builtin", bucketMs: BUCKET_MS, start, targetRate: rate, buckets } },
  };
}

const dir = mkdtempSync(join(tmpdir(), "faultline-bench-report-"));
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const rows: (string | number)[][] = [];
let baseMs = 0;
for (const minutes of [1, 10]) {
  const record = synthetic(minutes, 10_000);
  const runJson = join(dir, `${minutes}m.run.json`);
  writeFileSync(runJson, JSON.stringify(record));
  const t0 = performance.now();
  const html = renderRunHtml(record);
  const renderMs = performance.now() - t0;
  const file = join(dir, `${minutes}m.html`);
  writeFileSync(file, html);
  const times: number[] = [];
  for (let k = 0; k < 3; k++) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const start = performance.now();
    await page.goto(`file://${file}`);
    await page.waitForFunction(() => (window as unknown as { faultlineReady?: boolean }).faultlineReady === true);
    times.push(performance.now() - start);
    await page.close();
  }
  const median = [...times].sort((a, b) => a - b)[1] as number;
  if (minutes === 1) baseMs = median;
  rows.push([`${minutes} min at 10k QPS`, (statSync(runJson).size / 1e6).toFixed(1), (statSync(file).size / 1e6).toFixed(2), renderMs.toFixed(0), median.toFixed(0), (median / baseMs).toFixed(2)]);
}
await browser.close();
rmSync(dir, { recursive: true, force: true });
console.log("\nbench:report — report.html of a synthetic run (10k QPS, 100 ms buckets with HDR histograms)\n");
console.log(table(["run", "run.json MB", "report.html MB", "faultline render ms", "Chromium load→drawn ms (median of 3)", "× 1-min run"], rows));
