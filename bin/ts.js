#!/usr/bin/env node
// `node bin/ts.js SCRIPT ARGS…` runs a TypeScript entry point (a benchmark, mocha) on a Node that
// strips types: this one when new enough, else the provisioned one, signals passed on. The npm
// scripts go through it so that `npm run bench:load` works on the machine's own older Node.
import { runScript } from "./launch.js";

const [script, ...args] = process.argv.slice(2);
if (script === undefined) {
  console.error("usage: node bin/ts.js SCRIPT [ARGS…]");
  process.exit(2);
}
await runScript(script, args);
