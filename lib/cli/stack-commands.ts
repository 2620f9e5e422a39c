import type { Command } from "commander";
import { ExitCode } from "../errors.ts";
import { collect } from "./options.ts";
import { loadStackConfig } from "../stack/config.ts";
import { DEFAULT_STACK_DIR, stackDown, stackStatus, stackUp } from "../stack/lifecycle.ts";
import type { StackState } from "../stack/placement.ts";


function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function describe(s: StackState): string {
  const lines = [`stack in ${s.dir}`, ...Object.entries(s.endpoints).map(([k, v]) => `  ${k.padEnd(15)} ${v}`)];
  lines.push(`  target file     ${s.targetFile}`);
  const regions = new Map<string, string[]>();
  for (const r of s.replicas) regions.set(r.region, [...(regions.get(r.region) ?? []), r.name]);
  for (const [region, names] of regions) lines.push(`  ${region.padEnd(15)} ${names.join(", ")}`);
  return lines.join("\n");
}

export function addStackCommands(program: Command, setExit: (code: number) => void): void {
  const stack = program.command("stack").description("the local reference inference stack (gateway, regions, Prometheus, Alertmanager, rollouts)");

  stack
    .command("up")
    .description("start the stack in the background on loopback; returns once every part answers")
    .option("-c, --config <file>", "stack config (YAML); every threshold has a default")
    .option("--set <key=value>", "override one config key, e.g. gateway.healthCheck.intervalMs=15000 (repeatable)", collect, [])
    .option("--dir <dir>", "state folder (stack.json, target.yaml, logs/)", DEFAULT_STACK_DIR)
    .option("--json", "print the stack state as JSON")
    .action(async (flags: { config?: string; set: string[]; dir: string; json?: boolean }) => {
      const config = await loadStackConfig(flags.config, flags.set);
      const t0 = Date.now();
      const state = await stackUp(config, { dir: flags.dir, onProgress: (l) => process.stderr.write(`stack: ${l}\n`) });
      if (flags.json) print(JSON.stringify(state, null, 2));
      else print(`${describe(state)}\nready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      setExit(ExitCode.pass);
    });

  stack
    .command("status")
    .description("whether the stack runs, its endpoints and processes")
    .option("--dir <dir>", "state folder", DEFAULT_STACK_DIR)
    .option("--json", "print JSON")
    .action(async (flags: { dir: string; json?: boolean }) => {
      const st = await stackStatus(flags.dir);
      const s = st.live ?? st.state;
      if (flags.json) print(JSON.stringify({ running: st.running, ...(s ? { stack: s } : {}) }, null, 2));
      else if (!st.running || s === undefined) print(`no stack running in ${flags.dir}`);
      else {
        print(describe(s));
        for (const p of s.processes) print(`  ${p.name.padEnd(22)} pid ${String(p.pid ?? "-").padEnd(8)} ${p.state}${p.restarts ? ` (${p.restarts} restarts)` : ""}`);
      }
      setExit(st.running ? ExitCode.pass : ExitCode.fail);
    });

  stack
    .command("down")
    .description("stop every process the stack started (also after a crashed `up`)")
    .option("--dir <dir>", "state folder", DEFAULT_STACK_DIR)
    .action(async (flags: { dir: string }) => {
      const r = await stackDown({ dir: flags.dir });
      print(r.wasRunning ? `stopped ${r.stopped} process(es)` : `no stack running in ${flags.dir}`);
      setExit(ExitCode.pass);
    });
}
