#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types). On an older node, re-runs
// itself with the Node that `make setup` provisioned into tools/node.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  const provisioned = fileURLToPath(new URL("../tools/node/bin/node", import.meta.url));
  if (!existsSync(provisioned)) {
    console.error(`faultline needs Node >= 22.22 (this is ${process.versions.node}); run \`make setup\` to provision one.`);
    process.exit(4);
  }
  const r = spawnSync(provisioned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(r.status ?? (r.signal ? 128 + 2 : 4));
}
const { main } = await import("../lib/cli/main.ts");
process.exitCode = await main(process.argv);
