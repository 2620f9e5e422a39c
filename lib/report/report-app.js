// faultline run report: renders the embedded model. Plain JS, inlined into report.html.
(() => {
  "use strict";
  const model = JSON.parse(document.getElementById("model").textContent);
  const r = model.record;
  const app = document.getElementById("app");
  const charts = [];

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "onclick") el.addEventListener("click", v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return el;
  }
  const t0 = (r.phases[0] && r.phases[0].start) || r.startedAt;
  const rel = (t) => (t === undefined || t === null ? "—" : `${t >= t0 ? "+" : "−"}${(Math.abs(t - t0) / 1000).toFixed(1)}s`);
  const dur = (ms) => (ms === undefined || ms === null ? "—" : ms < 1000 ? `${Math.round(ms)}ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60000)}m${Math.round((ms % 60000) / 1000)}s`);
  const fmt = (v, unit) => {
    if (v === null || v === undefined) return "—";
    if (unit === "ms") return dur(v);
    if (unit === "ratio" || unit === "share" || unit === "failure ratio") return `${(v * 100).toFixed(2)}%`;
    if (unit === "s") return `${Number(v).toFixed(1)}s`;
    return typeof v === "number" ? String(Math.round(v * 1000) / 1000) : String(v);
  };

  // ---- header
  const verdict = r.verdict || "running";
  app.append(
    h("header", { class: `banner ${verdict}`, id: "verdict" },
      h("div", { class: "verdict-word" }, verdict.toUpperCase()),
      h("div", {},
        h("h1", {}, r.experiment.name),
        h("div", { class: "meta" }, `run ${r.runId} · target ${r.target.name} · ${new Date(r.startedAt).toISOString().replace("T", " ").slice(0, 19)} UTC · ${dur((r.endedAt || r.startedAt) - r.startedAt)}${r.timeScale !== 1 ? ` · time-scale ${r.timeScale}` : ""}`),
      ),
    ),
  );
  if (r.reason) app.append(h("p", { class: `reason ${verdict}` }, r.reason));
  if (r.calibration) app.append(h("p", { class: "muted calibration" }, "calibration run: the faults were planned, not injected; only the checks that must stay quiet were judged"));
  if (model.calibration) app.append(h("p", { class: "muted calibration", id: "calibration" }, model.calibration));
  if (r.experiment.hypothesis || r.experiment.description) {
    app.append(h("section", {}, h("h2", {}, "Hypothesis"), h("p", { class: "hypothesis" }, r.experiment.hypothesis || ""), r.experiment.description ? h("p", { class: "muted" }, r.experiment.description) : null));
  }

  // ---- charts
  const faultWindows = r.faults.filter((f) => f.injectedAt).map((f) => ({ name: f.name, start: f.injectedAt / 1000, end: (f.revertedAt || r.endedAt) / 1000 }));
  const markers = r.timeline
    .filter((e) => e.type === "alert.firing" || e.type === "alert.pending" || e.type === "alert.resolved" || e.type.startsWith("rollout.") || e.type.startsWith("session."))
    .map((e) => ({ t: e.t / 1000, type: e.type, verdict: rolloutVerdict(e), label: e.type.startsWith("alert.") ? `${(e.data && e.data.labels && e.data.labels.alertname) || "alert"} ${e.type.slice(6)}` : e.type.slice(8) }));
  const color = { "alert.pending": "#d9a400", "alert.firing": "#d22", "alert.resolved": "#2a2", "rollout.rolled-back": "#d22", "rollout.promoted": "#2a2", "session.primary": "#1f5fbf", "session.lost": "#d22" };
  /** a rollout analysis's verdict, from the stack's controller (ok) or Argo's AnalysisRun (phase) */
  function rolloutVerdict(e) {
    if (e.type !== "rollout.analysis" || !e.data) return undefined;
    if (e.data.ok === true || e.data.phase === "Successful") return "pass";
    if (e.data.ok === false || e.data.phase === "Failed" || e.data.phase === "Error") return "fail";
    return undefined;
  }
  let highlight = null;

  function decorate(u) {
    const ctx = u.ctx;
    const top = u.bbox.top;
    const height = u.bbox.height;
    ctx.save();
    for (const w of faultWindows) {
      const x0 = u.valToPos(w.start, "x", true);
      const x1 = u.valToPos(w.end, "x", true);
      ctx.fillStyle = "rgba(220, 60, 60, 0.10)";
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
      ctx.fillStyle = "#a33";
      ctx.font = `${11 * devicePixelRatio}px sans-serif`;
      ctx.fillText(w.name, x0 + 4, top + 12 * devicePixelRatio);
    }
    if (highlight) {
      const x0 = u.valToPos(highlight.start, "x", true);
      const x1 = u.valToPos(highlight.end, "x", true);
      ctx.strokeStyle = "#1f5fbf";
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.strokeRect(x0, top, Math.max(2, x1 - x0), height);
    }
    for (const m of markers) {
      const x = u.valToPos(m.t, "x", true);
      ctx.strokeStyle = m.verdict === "pass" ? "#2a2" : m.verdict === "fail" ? "#d22" : color[m.type] || "#777";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
    ctx.restore();
  }

  const c = model.chart;
  const width = () => Math.min(1100, document.body.clientWidth - 48);
  function chart(id, title, opts, data) {
    const box = h("div", { class: "chart", id });
    app.append(h("section", { class: "chart-section" }, h("h2", {}, title), box));
    const u = new uPlot({ width: width(), height: 220, ...opts, hooks: { draw: [decorate] } }, data, box);
    charts.push(u);
    return u;
  }
  if (c) {
    const sync = uPlot.sync("faultline");
    const cursor = { sync: { key: sync.key } };
    chart("chart-throughput", "Throughput and errors",
      { cursor, scales: { x: { time: true }, err: { range: [0, 100] } }, series: [{}, { label: "sent req/s", stroke: "#1f5fbf", width: 1.5 }, { label: "errors %", stroke: "#d22", scale: "err", width: 1.5 }], axes: [{}, { label: "req/s" }, { label: "errors %", side: 1, scale: "err", grid: { show: false } }] },
      [c.t, c.rps, c.errorRate]);
    chart("chart-latency", "Latency as clients see it (from scheduled send time)",
      { cursor, scales: { x: { time: true }, y: { distr: 3 } }, series: [{}, { label: "p50 ms", stroke: "#4a8" }, { label: "p95 ms", stroke: "#e90" }, { label: "p99 ms", stroke: "#d22" }, { label: "TTFT p99 ms", stroke: "#85c", dash: [5, 3] }], axes: [{}, { label: "ms" }] },
      [c.t, c.p50, c.p95, c.p99, c.ttft]);
    chart("chart-instrument", "The instrument: the load generator's lateness, other work on the host, and the CPU the host kept from the gateway (HAProxy's own count, ms a second)",
      { cursor, scales: { x: { time: true }, cores: { range: (_u, _min, max) => [0, Math.max(1, max)] } }, series: [{}, { label: "send lag ms", stroke: "#555", width: 1.5 }, { label: "loop block ms", stroke: "#999", dash: [4, 3] }, { label: "gateway kept off CPU ms/s", stroke: "#85c", width: 1.5 }, { label: "other work (cores)", stroke: "#c60", scale: "cores", width: 1.5 }], axes: [{}, { label: "ms" }, { label: "cores", side: 1, scale: "cores", grid: { show: false } }] },
      [c.t, c.lagMs, c.loopMs, c.gatewayStolenMs, c.otherCores]);
    if (c.stack) {
      const s = c.stack;
      chart("chart-stack", "Where the stack's time went: the gateway's queue, connect and response times (averages of its last 1,024 requests), the replicas' wait for a batch slot",
        { cursor, scales: { x: { time: true }, n: { range: (_u, _min, max) => [0, Math.max(10, max)] } }, series: [{}, { label: "gateway queue ms", stroke: "#c60", width: 1.5 }, { label: "gateway connect ms", stroke: "#999", dash: [4, 3] }, { label: "gateway response ms", stroke: "#1f5fbf", width: 1.5 }, { label: "replica queue p99 ms", stroke: "#85c", width: 1.5 }, { label: "requests queued", stroke: "#4a8", scale: "n", dash: [5, 3] }], axes: [{}, { label: "ms" }, { label: "queued", side: 1, scale: "n", grid: { show: false } }] },
        [c.t, s.gatewayQueueMs, s.gatewayConnectMs, s.gatewayResponseMs, s.replicaQueueP99Ms, s.queued]);
    }
    if (c.engine) {
      const e = c.engine;
      chart("chart-engine", "The engine and its GPUs: each stage's p99 (the seed's budgets: tokenisation 50 ms, inference 400 ms, post-processing 50 ms) and time to first token, KV cache use, sequences preempted for want of KV blocks, GPU utilisation, GPUs reporting an XID",
        { cursor, scales: { x: { time: true }, y: { distr: 3 }, pct: { range: (_u, _min, max) => [0, Math.max(100, max)] } }, series: [{}, { label: "tokenisation p99 ms", stroke: "#999", width: 1.5 }, { label: "inference p99 ms", stroke: "#1f5fbf", width: 1.5 }, { label: "post-processing p99 ms", stroke: "#4a8", width: 1.5 }, { label: "TTFT p99 ms", stroke: "#c60", width: 1.5 }, { label: "KV cache %", stroke: "#85c", scale: "pct", dash: [5, 3] }, { label: "preemptions/s", stroke: "#a0a", scale: "pct", width: 1 }, { label: "GPU util %", stroke: "#e90", scale: "pct", dash: [5, 3] }, { label: "GPUs with XID", stroke: "#d22", scale: "pct", width: 2 }], axes: [{}, { label: "ms" }, { label: "% · per s · GPUs", side: 1, scale: "pct", grid: { show: false } }] },
        [c.t, e.tokenizationP99Ms, e.inferenceP99Ms, e.postprocessingP99Ms, e.ttftP99Ms, e.kvCacheUsagePct, e.preemptionsPerSecond, e.gpuUtilPct, e.gpusWithXid]);
    }
    if (c.sessions) {
      chart("chart-sessions", "Conversations: turns acknowledged as kept, and how far the session store's replicas lag (a new primary blue, where acknowledged turns were lost red)",
        { cursor, scales: { x: { time: true }, y: { range: [0, 100] }, s: { range: (_u, _min, max) => [0, Math.max(2, max)] } }, series: [{}, { label: "turns acknowledged %", stroke: "#4a8", width: 1.5 }, { label: "replication lag s", stroke: "#85c", scale: "s", width: 1.5 }], axes: [{}, { label: "%" }, { label: "s", side: 1, scale: "s", grid: { show: false } }] },
        [c.t, c.sessions.ackedPct, c.sessions.lagSeconds]);
    }
    const names = Object.keys(c.regions).sort();
    const palette = ["#1f5fbf", "#e90", "#4a8", "#85c", "#c55", "#999"];
    const cumulative = [];
    let acc = c.t.map(() => 0);
    for (const n of names) {
      acc = acc.map((v, i) => v + c.regions[n][i]);
      cumulative.push(acc);
    }
    const order = names.map((_, i) => i).reverse();
    chart("chart-regions", "Traffic share per region (stacked, % of successful responses)",
      { cursor, scales: { x: { time: true }, y: { range: [0, 100] } }, series: [{}, ...order.map((i) => ({ label: names[i], stroke: palette[i % palette.length], fill: `${palette[i % palette.length]}55`, points: { show: false } }))], axes: [{}, { label: "%" }] },
      [c.t, ...order.map((i) => cumulative[i])]);
    const versionNames = Object.keys(c.versions).sort();
    if (versionNames.length > 1) {
      // a rollout: who served, over time, with the controller's steps and analyses as markers
      let vacc = c.t.map(() => 0);
      const vcum = versionNames.map((n) => (vacc = vacc.map((v, i) => v + c.versions[n][i])));
      const vorder = versionNames.map((_, i) => i).reverse();
      const vpalette = ["#4a8", "#e90", "#d22", "#85c", "#1f5fbf", "#999"];
      chart("chart-versions", "Traffic share per model version (stacked, % of successful responses)",
        { cursor, scales: { x: { time: true }, y: { range: [0, 100] } }, series: [{}, ...vorder.map((i) => ({ label: versionNames[i], stroke: vpalette[i % vpalette.length], fill: `${vpalette[i % vpalette.length]}55`, points: { show: false } }))], axes: [{}, { label: "%" }] },
        [c.t, ...vorder.map((i) => vcum[i])]);
    }
    app.append(h("p", { class: "legend muted" }, "Shaded: fault windows. Dashed lines: alerts (yellow pending, red firing, green resolved) and rollout steps (grey; analyses green when they passed, red when they failed; red a roll-back, green a promotion); the session store's new primary (blue) and the first lost acknowledged turn (red). ", h("button", { id: "reset-zoom", onclick: () => focusWindow(null) }, "reset zoom")));
  } else {
    app.append(h("p", { class: "muted" }, "No load was driven in this run, so there is no client-side chart."));
  }

  function focusWindow(w) {
    highlight = w ? { start: w.start / 1000, end: w.end / 1000 } : null;
    for (const u of charts) {
      if (w) u.setScale("x", { min: w.start / 1000 - 5, max: w.end / 1000 + 5 });
      else u.setScale("x", { min: c.t[0], max: c.t[c.t.length - 1] });
      u.redraw();
    }
    for (const row of document.querySelectorAll("tr.focused")) row.classList.remove("focused");
  }

  // ---- assertions
  const rows = r.assertions.map((a) =>
    h("tr", { class: a.verdict, "data-assertion": a.name },
      h("td", { class: "verdict-cell" }, a.verdict === "pass" ? "✓ pass" : a.verdict === "inconclusive" ? "? inconclusive" : "✗ fail"),
      h("td", {}, h("strong", {}, a.name), h("div", { class: "muted" }, a.kind)),
      h("td", { class: "num measured" }, fmt(a.measured, a.unit)),
      h("td", { class: "num limit" }, fmt(a.limit, a.unit)),
      h("td", { class: "num" }, `${rel(a.window.start)} → ${rel(a.window.end)}`),
      h("td", {}, a.message, a.crossCheck ? h("div", { class: "muted cross-check" }, a.crossCheck.message) : ""),
      h("td", {}, c ? h("button", { class: "show-evidence", onclick: (ev) => { focusWindow(a.window); ev.target.closest("tr").classList.add("focused"); } }, "show") : ""),
    ));
  app.append(h("section", {}, h("h2", {}, "Assertions"),
    r.assertions.length ? h("table", { id: "assertions" }, h("thead", {}, h("tr", {}, ["verdict", "assertion", "measured", "limit", "window", "evidence", ""].map((x) => h("th", {}, x)))), h("tbody", {}, rows)) : h("p", { class: "muted" }, "No assertions were judged (the run ended before judgement).")));

  // ---- faults
  app.append(h("section", {}, h("h2", {}, "Faults"),
    h("table", { id: "faults" }, h("thead", {}, h("tr", {}, ["fault", "kind", "targets", "injected", "reverted", "held"].map((x) => h("th", {}, x)))),
      h("tbody", {}, r.faults.map((f) => h("tr", {}, h("td", {}, f.name), h("td", {}, f.kind), h("td", {}, f.targets.join(", ")), h("td", { class: "num" }, rel(f.injectedAt)), h("td", { class: "num" }, rel(f.revertedAt)), h("td", { class: "num" }, f.injectedAt && f.revertedAt ? dur(f.revertedAt - f.injectedAt) : "—")))))));

  // ---- alerts
  const alerts = new Map();
  for (const e of r.timeline) {
    if (!e.type.startsWith("alert.")) continue;
    const l = (e.data && e.data.labels) || {};
    const key = JSON.stringify(Object.entries(l).filter(([k]) => k !== "source").sort());
    const a = alerts.get(key) || { name: l.alertname, labels: Object.entries(l).filter(([k]) => !["alertname", "source"].includes(k)).map(([k, v]) => `${k}=${v}`).join(" "), pending: null, firing: null, resolved: null, delivered: null };
    const field = { "alert.pending": "pending", "alert.firing": "firing", "alert.resolved": "resolved", "alert.delivered": "delivered" }[e.type];
    if (field && a[field] === null) a[field] = e.t;
    alerts.set(key, a);
  }
  app.append(h("section", {}, h("h2", {}, "Alerts"),
    alerts.size ? h("table", { id: "alerts" }, h("thead", {}, h("tr", {}, ["alert", "labels", "pending", "firing", "delivered", "resolved"].map((x) => h("th", {}, x)))),
      h("tbody", {}, [...alerts.values()].map((a) => h("tr", {}, h("td", {}, a.name), h("td", { class: "muted" }, a.labels), h("td", { class: "num" }, rel(a.pending)), h("td", { class: "num" }, rel(a.firing)), h("td", { class: "num" }, rel(a.delivered)), h("td", { class: "num" }, rel(a.resolved)))))) : h("p", { class: "muted" }, "No alert went pending or firing.")));

  // ---- event log
  app.append(h("section", {}, h("h2", {}, "Event log"),
    h("table", { id: "events", class: "compact" }, h("tbody", {}, r.timeline.map((e) => h("tr", { class: e.type.split(".")[0] }, h("td", { class: "num" }, rel(e.t)), h("td", { class: "muted" }, e.type), h("td", {}, e.message)))))));

  // ---- what was run
  app.append(h("section", { class: "sources" }, h("h2", {}, "What ran"),
    h("details", { open: true }, h("summary", {}, `Experiment ${r.experiment.file || ""}`), h("pre", {}, r.source || JSON.stringify(r.spec, null, 2))),
    r.environment && r.environment.stackConfig ? h("details", {}, h("summary", {}, "Stack config"), h("pre", {}, JSON.stringify(r.environment.stackConfig, null, 2))) : null,
    h("details", {}, h("summary", {}, "Environment"), h("pre", {}, JSON.stringify({ ...(r.environment || {}), stackConfig: undefined, report: new Date(model.generatedAt).toISOString() }, null, 2)))));

  window.addEventListener("resize", () => charts.forEach((u) => u.setSize({ width: width(), height: 220 })));
  // for tests and the curious: the charts and what they shade
  window.faultline = { charts, faultWindows, markers };
  window.faultlineReady = true;
})();
