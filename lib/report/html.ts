import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { RunRecord } from "../schema/run-record.ts";
import { reportModel } from "./model.ts";

const require = createRequire(import.meta.url);

/** The inlined assets, read on the first report rather than whenever the CLI starts. */
let assets: { uplotJs: string; uplotCss: string; appJs: string; css: string } | undefined;
function loadAssets(): NonNullable<typeof assets> {
  assets ??= {
    uplotJs: readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
    uplotCss: readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8"),
    appJs: readFileSync(new URL("./report-app.js", import.meta.url), "utf8"),
    css: readFileSync(new URL("./report.css", import.meta.url), "utf8"),
  };
  return assets;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** JSON inside <script>: `<` escaped so no value can close the tag. */
function embed(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/**
 * One self-contained HTML file per run: the data model embedded as JSON, uPlot inlined, nothing
 * fetched when opened (works from file://), legible printed to PDF.
 */
export function renderRunHtml(record: RunRecord, calibration?: string): string {
  const { uplotJs, uplotCss, appJs, css } = loadAssets();
  const model = { ...reportModel(record), ...(calibration !== undefined ? { calibration } : {}) };
  const title = `${record.experiment.name} — ${record.verdict?.toUpperCase() ?? "RUNNING"}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · faultline</title>
<style>${uplotCss}</style><style>${css}</style>
</head><body>
<main id="app" data-verdict="${escapeHtml(record.verdict ?? "")}"><noscript>This report needs JavaScript for its charts; the data is in run.json.</noscript></main>
<script type="application/json" id="model">${embed(model)}</script>
<script>${uplotJs}</script>
<script>${appJs}</script>
</body></html>
`;
}
