/// <reference lib="dom" />
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import type { RunRecord } from "../../lib/schema/run-record.ts";
import { runCli } from "../helpers/cli.ts";
import { tempDir, writeExperiment, writeTarget } from "../helpers/fixtures.ts";
import { ROOT, freePort, startHttpServer, startToxiproxy } from "../helpers/servers.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

/** A real run (real toxiproxy, real HTTP server, builtin load) whose report the browser opens. */
describe("report: a real run's report in a real browser (Chromium via playwright-core)", function () {
  this.timeout(120_000);
  let browser: Browser;
  let runDir: string;
  let out: string;
  let record: RunRecord;

  before(async () => {
    await using tp = await startToxiproxy();
    await using http = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.setHeader("x-faultline-region", "us-east");
        res.setHeader("x-faultline-version", "sim:v1");
        res.end("{}");
      });
    });
    const dir = tempDir("report");
    const port = await freePort();
    const target = writeTarget(dir, tp.api, [{ name: "svc", labels: { region: "us-east" }, listenPort: port, upstreamPort: http.port }], { gateway: `http://127.0.0.1:${port}` });
    const exp = writeExperiment(dir, {
      metadata: { name: "report-e2e", description: "latency on the only path" },
      hypothesis: "300 ms more latency keeps p99 under 100 ms (it will not)",
      load: { rate: 200, timeout: "2s" },
      phases: { baseline: "2s", recovery: "2s" },
      faults: [{ name: "slow", kind: "latency", selector: { names: ["svc"] }, at: "1s", duration: "3s", params: { latency: "300ms" } }],
      assertions: [
        { kind: "slo", name: "p99-under-100ms", during: "fault", p99: "100ms" },
        { kind: "slo", name: "available", during: "run", availability: 0.99 },
      ],
    });
    out = join(dir, "reports");
    const r = await runCli(["run", exp, "--target", target, "--out", out]);
    expect(r.code, r.stderr).to.equal(1);
    runDir = join(out, readdirSync(out).find((d) => d.includes("report-e2e")) as string);
    record = JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")) as RunRecord;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  });
  after(async () => {
    await browser?.close();
  });

  /** A report opened in the browser once it says it is drawn, with the page errors it raises. */
  const openReport = async (file: string): Promise<{ page: Page; errors: string[] }> => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`file://${file}`);
    await page.waitForFunction(() => (window as unknown as { faultlineReady?: boolean }).faultlineReady === true);
    return { page, errors };
  };

  /** Pixels drawn (not transparent) on a chart's canvas. */
  const inkOn = (page: Page, selector: string): Promise<number> =>
    page.$eval(selector, (c) => {
      const d = (c as HTMLCanvasElement).getContext("2d")?.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data ?? new Uint8ClampedArray();
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if ((d[i] as number) > 0) n++;
      return n;
    });

  it("renders the verdict, every chart, the fault window at its time and the assertion table of run.json, without console errors", async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    const requests: string[] = [];
    page.on("request", (req) => requests.push(req.url()));
    await page.goto(`file://${join(runDir, "report.html")}`);
    await page.waitForFunction(() => (window as unknown as { faultlineReady?: boolean }).faultlineReady === true);

    expect(await page.textContent("#verdict .verdict-word")).to.equal("FAIL");
    // every chart drew something: canvases with non-blank pixels
    const inked = await page.$$eval(".chart canvas", (cs) =>
      (cs as HTMLCanvasElement[]).map((c) => {
        const d = c.getContext("2d")?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray();
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if ((d[i] as number) > 0) n++;
        return n;
      }),
    );
    // throughput, latency, the instrument's lane (send lag, loop blocks, other work on the host), regions
    expect(await page.$$eval(".chart", (cs) => cs.map((c) => c.id))).to.deep.equal(["chart-throughput", "chart-latency", "chart-instrument", "chart-regions"]);
    expect(inked).to.have.length(4);
    for (const n of inked) expect(n).to.be.greaterThan(1000);
    // the fault window is shaded where the fault was: red-tinted inside, not just before it
    const fault = record.faults[0];
    const probe = await page.evaluate(
      ({ inside, before }) => {
        const u = (window as unknown as { faultline: { charts: { valToPos(v: number, s: string, c: boolean): number; bbox: { top: number; height: number }; ctx: CanvasRenderingContext2D }[] } }).faultline.charts[1]!;
        const y = Math.round(u.bbox.top + u.bbox.height * 0.15);
        const px = (t: number): number[] => [...u.ctx.getImageData(Math.round(u.valToPos(t, "x", true)), y, 1, 1).data];
        return { inside: px(inside), before: px(before) };
      },
      { inside: ((fault?.injectedAt ?? 0) + 1500) / 1000, before: ((fault?.injectedAt ?? 0) - 800) / 1000 },
    );
    expect(probe.inside[0], `pixel inside the fault window ${probe.inside}`).to.be.greaterThan((probe.inside[1] ?? 0) + 5);
    expect(probe.before[3] === 0 || Math.abs((probe.before[0] ?? 0) - (probe.before[1] ?? 0)) < 5, `pixel before the fault ${probe.before}`).to.equal(true);
    // the assertion table is run.json's
    const rows = await page.$$eval("#assertions tbody tr", (trs) => trs.map((tr) => [tr.getAttribute("data-assertion"), tr.className]));
    expect(rows).to.deep.equal(record.assertions.map((a) => [a.name, a.verdict]));
    expect(await page.textContent('tr[data-assertion="p99-under-100ms"] .limit')).to.equal("100ms");
    // "show" highlights the evidence window
    await page.click('tr[data-assertion="p99-under-100ms"] .show-evidence');
    expect(await page.$('tr[data-assertion="p99-under-100ms"].focused')).to.not.equal(null);
    expect(errors).to.deep.equal([]);
    expect(requests.every((u) => u.startsWith("file://"))).to.equal(true);
    mkdirSync(join(ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: join(ROOT, "test-results", "report.png"), fullPage: true });
    await page.close();
  });

  it("draws the stack's lane and the engine's (stage p99s, KV cache, GPU utilisation, XIDs) when the run has them (read from a stack's Prometheus; here written into a copy of run.json)", async () => {
    // where the time went, a sample a second over the run: the gateway's response time rises in the fault
    const fault = record.faults[0];
    const stack = [];
    for (let t = record.startedAt; t <= (record.endedAt ?? t); t += 1000) {
      const inFault = fault?.injectedAt !== undefined && t >= fault.injectedAt && t <= (fault.revertedAt ?? t);
      // the engine's own: the inference stage over its budget and the GPU idle while the fault holds (an XID)
      const engine = { tokenizationP99Ms: 1, inferenceP99Ms: inFault ? 450 : 60, postprocessingP99Ms: 2, ttftP99Ms: 30, kvCacheUsagePct: 12, preemptionsPerSecond: 0, gpuUtilPct: inFault ? 0 : 40, gpusWithXid: inFault ? 1 : 0 };
      stack.push({ t, gatewayQueueMs: 0, gatewayConnectMs: 1, gatewayResponseMs: inFault ? 300 : 20, gatewayQueued: 0, replicaQueueP99Ms: 5, replicaQueued: 2, ...engine });
    }
    const dir = tempDir("report-lane");
    writeFileSync(join(dir, "run.json"), JSON.stringify({ ...record, series: { ...record.series, stack } }));
    const r = await runCli(["report", join(dir, "run.json")]);
    expect(r.code, r.stderr).to.equal(0);
    const { page, errors } = await openReport(join(dir, "report.html"));
    expect(await page.$$eval(".chart", (cs) => cs.map((c) => c.id))).to.deep.equal(["chart-throughput", "chart-latency", "chart-instrument", "chart-stack", "chart-engine", "chart-regions"]);
    expect(await inkOn(page, "#chart-stack canvas")).to.be.greaterThan(1000);
    expect(await inkOn(page, "#chart-engine canvas")).to.be.greaterThan(1000);
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it("shows a check's cross-check from the gateway's own record under its message", async () => {
    const dir = tempDir("report-cross");
    const [first, ...rest] = record.assertions;
    const crossCheck = { by: "gateway", measured: 3012, message: "the gateway's own record puts it at 3.01s (the clients': 2.99s, 0.02s earlier)" };
    writeFileSync(join(dir, "run.json"), JSON.stringify({ ...record, assertions: [{ ...first, crossCheck }, ...rest] }));
    const r = await runCli(["report", join(dir, "run.json")]);
    expect(r.code, r.stderr).to.equal(0);
    const { page, errors } = await openReport(join(dir, "report.html"));
    expect(await page.$$eval("#assertions .cross-check", (ds) => ds.map((d) => d.textContent))).to.deep.equal([crossCheck.message]);
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it("draws the share each model version served when a rollout ran, with its analyses as green or red markers", async () => {
    // a canary in the fault window: v2 answers 5 % of the buckets' requests, then an analysis fails and a roll-back
    const fault = record.faults[0];
    const t0 = fault?.injectedAt ?? record.startedAt;
    const buckets = (record.series.load?.buckets ?? []).map((b) => {
      const ok = Object.values(b.versions).reduce((x, y) => x + y, 0);
      const canary = b.t >= t0 && b.t < t0 + 2000 ? Math.round(ok * 0.05) : 0;
      return { ...b, versions: canary > 0 ? { "sim:v1": ok - canary, "sim:v2": canary } : b.versions };
    });
    const timeline = [
      ...record.timeline,
      { t: t0, type: "rollout.step", message: "us-east: step 1 of 4 (set weight 5%)", data: { weight: 5 } },
      { t: t0 + 1000, type: "rollout.analysis", message: "us-east: analysis Failed: error-rate 0.2", data: { phase: "Failed" } },
      { t: t0 + 1100, type: "rollout.rolled-back", message: "us-east: aborted" },
    ].sort((a, b) => a.t - b.t);
    const dir = tempDir("report-versions");
    writeFileSync(join(dir, "run.json"), JSON.stringify({ ...record, timeline, series: { ...record.series, load: { ...record.series.load, buckets } } }));
    const r = await runCli(["report", join(dir, "run.json")]);
    expect(r.code, r.stderr).to.equal(0);
    const { page, errors } = await openReport(join(dir, "report.html"));
    expect(await page.$$eval(".chart", (cs) => cs.map((c) => c.id))).to.include("chart-versions");
    const markers = await page.evaluate(() => (window as unknown as { faultline: { markers: { type: string; verdict?: string }[] } }).faultline.markers.filter((m) => m.type.startsWith("rollout.")));
    expect(markers.map((m) => [m.type, m.verdict ?? null])).to.deep.equal([
      ["rollout.step", null],
      ["rollout.analysis", "fail"],
      ["rollout.rolled-back", null],
    ]);
    // the version chart is drawn: its bands are ink on the canvas
    expect(await inkOn(page, "#chart-versions canvas")).to.be.greaterThan(1000);
    expect(errors).to.deep.equal([]);
    // a run with one version draws no version chart (the lane test above lists the charts of such a run)
    await page.close();
  });

  it("the index lists the run, and junit.xml validates against the Ant/Jenkins JUnit XSD", async () => {
    const index = readFileSync(join(out, "index.html"), "utf8");
    expect(index).to.contain(`${record.runId}`);
    const junit = join(runDir, "junit.xml");
    execFileSync("xmllint", ["--noout", "--schema", join(ROOT, "test/fixtures/junit-ant.xsd"), junit], { stdio: "pipe" });
    const xml = readFileSync(junit, "utf8");
    expect(xml).to.match(/<failure message="p99-under-100ms: measured \d+ms, limit 100ms" type="slo">/);
    const summary = readFileSync(join(runDir, "summary.md"), "utf8");
    expect(summary).to.match(/\| ❌ \| report-e2e \| fail \|/);
    expect(statSync(join(runDir, "report.html")).size).to.be.below(3 * 1024 * 1024);
    const { RunRecordSchema } = await import("../../lib/schema/run-schema.ts");
    const parsed = RunRecordSchema.safeParse(JSON.parse(readFileSync(join(runDir, "run.json"), "utf8")));
    expect(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3))).to.equal(true);
    expect(existsSync(join(runDir, "journal.jsonl"))).to.equal(true);
  });

  it("the XSD check can fail: a malformed junit file is refused", () => {
    const bad = join(runDir, "bad-junit.xml");
    execFileSync("sh", ["-c", `sed 's/ hostname="[^"]*"//' ${join(runDir, "junit.xml")} > ${bad}`]);
    expect(() => execFileSync("xmllint", ["--noout", "--schema", join(ROOT, "test/fixtures/junit-ant.xsd"), bad], { stdio: "pipe" })).to.throw();
  });
});
