// Runs faultline's TypeScript on a Node that strips types (>= 22.22). On an older Node it starts the
// Node that `make setup` provisioned into tools/node as a child, and stays in between as the user's
// process: every signal it gets goes on to the child, and it exits with the child's code (or dies
// of the child's signal). A run also watches the processes above it (lib/cli/signals.ts), so that
// it stops when npx or make exit on SIGTERM without passing it on.
// Plain JavaScript: it must load on the old Node.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [major, minor] = process.versions.node.split(".").map(Number);
export const NODE_OK = major > 22 || (major === 22 && minor >= 22);
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Whether SIGHUP was ignored when this process started (`nohup`): then a hang-up is not a stop. */
export function hangupIgnored() {
  if (process.env.FAULTLINE_NOHUP === "1") return true;
  try {
    const mask = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
  } catch {
    return false;
  }
}
// read before any handler is installed: once one is, the disposition no longer says. Passed on in
// the environment: a child starts with default signal handling, and lib/cli/signals.ts reads it there.
const NOHUP = hangupIgnored();
if (NOHUP) process.env.FAULTLINE_NOHUP = "1";

function relaunch(script, args) {
  const provisioned = fileURLToPath(new URL("../tools/node/bin/node", import.meta.url));
  if (!existsSync(provisioned)) {
    console.error(`faultline needs Node >= 22.22 (this is ${process.versions.node}); run \`make setup\` to provision one.`);
    process.exit(4);
  }
  const child = spawn(provisioned, [script, ...args], { stdio: "inherit" });
  const forward = (sig) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  const forwarded = SIGNALS.filter((s) => !(s === "SIGHUP" && NOHUP));
  for (const s of forwarded) process.on(s, forward);
  child.on("error", (err) => {
    console.error(`faultline: cannot start ${provisioned}: ${err.message}`);
    process.exit(4);
  });
  child.on("exit", (code, signal) => {
    for (const s of forwarded) process.off(s, forward);
    if (signal !== null) process.kill(process.pid, signal); // die the way the child died
    else process.exit(code ?? 4);
  });
}

/** Runs `script` (a TypeScript or JavaScript entry point) with `args` as its argv, here or on the provisioned Node. */
export async function runScript(script, args) {
  const file = resolve(script);
  if (!NODE_OK) return relaunch(file, args);
  process.argv = [process.argv[0], file, ...args];
  await import(pathToFileURL(file).href);
}

export { relaunch };
