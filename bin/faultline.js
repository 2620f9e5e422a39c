#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.22 strips types). On an older Node, re-runs
// itself on the Node that `make setup` provisioned, passing every signal on (see launch.js).
import { fileURLToPath } from "node:url";
import { NODE_OK, relaunch } from "./launch.js";

if (!NODE_OK) {
  relaunch(fileURLToPath(import.meta.url), process.argv.slice(2));
} else {
  const { main } = await import("../lib/cli/main.ts");
  process.exitCode = await main(process.argv);
}
