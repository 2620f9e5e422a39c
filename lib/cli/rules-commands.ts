import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { stringify } from "yaml";
import { ExitCode, FaultlineError } from "../errors.ts";
import { promtoolCheck, ruleSeries } from "../observe/rules-check.ts";
import { ENGINES, RETIRED, alertPack } from "../stack/alert-pack.ts";
import type { Engine } from "../stack/alert-pack.ts";
import { loadStackConfig } from "../stack/config.ts";
import { collect } from "./options.ts";

/** A production Prometheus scrapes every 15–30 s: rate() needs four scrapes in its window, and a blip should not page. */
const PACK_DEFAULTS = ["alerts.windowSeconds=120", "alerts.forSeconds=120", "alerts.kvCacheForSeconds=60"];

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function seconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new FaultlineError("E_INVALID_INPUT", `--lookback ${text}: expected a duration such as 90s, 30m or 1h`);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[m[2] ?? "s"] ?? 1);
}

export function addRulesCommands(program: Command, setExit: (code: number) => void): void {
  const rules = program.command("rules").description("alert packs for real serving engines, and a check that a rule file's series exist");

  rules
    .command("export")
    .description("write the engine and GPU alerts (queue depth, KV cache, stage budgets, DCGM memory/utilisation/temperature/XID) on one engine's metric names")
    .requiredOption("--engine <engine>", `the serving engine: ${ENGINES.join(", ")}`)
    .option("-c, --config <file>", "stack config (YAML) whose alerts.* thresholds to use")
    .option("--set <key=value>", "override one threshold, e.g. alerts.kvCacheUsagePct=85 (repeatable; the pack's window and for: default to 120s)", collect, [])
    .option("-o, --out <file>", "write the rule file here instead of stdout")
    .action(async (flags: { engine: string; config?: string; set: string[]; out?: string }) => {
      if (!(ENGINES as readonly string[]).includes(flags.engine)) throw new FaultlineError("E_INVALID_INPUT", `--engine ${flags.engine}: expected one of ${ENGINES.join(", ")}`);
      const c = await loadStackConfig(flags.config, [...PACK_DEFAULTS, ...flags.set]);
      const pack = alertPack(c, flags.engine as Engine);
      const head = [`# faultline alert pack for ${flags.engine}; metric names from ${pack.source}`, ...pack.skipped.map((s) => `# not written: ${s}`)];
      const text = `${head.join("\n")}\n${stringify({ groups: pack.groups })}`;
      if (flags.out !== undefined) {
        writeFileSync(flags.out, text);
        process.stderr.write(`rules: wrote ${flags.out}\n`);
      } else process.stdout.write(text);
      setExit(ExitCode.pass);
    });

  rules
    .command("check")
    .description("promtool check rules, then ask a Prometheus whether every series each rule reads exists: a rule on a renamed metric can never fire")
    .argument("<file>", "a Prometheus rule file")
    .requiredOption("--prometheus <url>", "the Prometheus that scrapes the fleet these rules watch")
    .option("--lookback <duration>", "a series counts as existing if Prometheus saw it this recently", "1h")
    .option("--json", "print the result as JSON")
    .action(async (file: string, flags: { prometheus: string; lookback: string; json?: boolean }) => {
      const promtool = await promtoolCheck(file);
      if (!promtool.ok) {
        print(`✗ promtool check rules ${file}:\n${promtool.output}`);
        setExit(ExitCode.fail);
        return;
      }
      const url = flags.prometheus.replace(/\/+$/, "");
      const checked = await ruleSeries(file, url, seconds(flags.lookback));
      const dead = checked.filter((r) => !r.canFire);
      if (flags.json) print(JSON.stringify({ file, promtool: promtool.output, rules: checked, neverFire: dead.map((r) => r.rule) }, null, 2));
      else {
        print(`✓ promtool: ${promtool.output.split("\n").map((l) => l.trim()).filter(Boolean).at(-1) ?? "ok"}`);
        for (const r of checked) {
          const why = r.reads
            .filter((x) => x.series === 0)
            .map((x) => {
              const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(x.selector)?.[0];
              const retired = name !== undefined ? RETIRED[name] : undefined;
              return `${x.selector} matches no series in the last ${flags.lookback}${retired ? ` — retired upstream (${retired.why}): use ${retired.use}` : ""}`;
            });
          if (r.canFire) {
            const reads = r.reads.filter((x) => x.series > 0).map((x) => `${x.selector} (${x.series} series)`);
            print(`✓ ${r.group}/${r.rule}: ${reads.join(", ") || "reads no series"}${why.length ? ` (fires without ${why.join("; ")})` : ""}`);
          } else print(`✗ ${r.group}/${r.rule} can never fire: ${why.join("; ")}`);
        }
        print(dead.length === 0 ? `all ${checked.length} rules read series that exist` : `${dead.length} of ${checked.length} rules can never fire: ${dead.map((r) => r.rule).join(", ")}`);
      }
      setExit(dead.length === 0 ? ExitCode.pass : ExitCode.fail);
    });
}
