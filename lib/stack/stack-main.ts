// The supervisor process of a stack: `faultline stack up` starts it detached, in its own process group;
// the testcontainers target runs it as the stack container's entrypoint, DIR bind-mounted, with a
// placement.json beside config.json.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../errors.ts";
import type { StackConfig } from "./config.ts";
import { LOOPBACK } from "./placement.ts";
import type { Placement } from "./placement.ts";
import { Supervisor } from "./supervisor.ts";

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write("usage: stack-main.ts DIR\n");
  process.exit(2);
}
const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as StackConfig;
const placementFile = join(dir, "placement.json");
const placement = existsSync(placementFile) ? (JSON.parse(readFileSync(placementFile, "utf8")) as Placement) : LOOPBACK;
const supervisor = new Supervisor(config, dir, placement);
let stopping = false;
const stop = async (code: number): Promise<never> => {
  if (!stopping) {
    stopping = true;
    await supervisor.stop().catch(() => undefined);
  }
  process.exit(code);
};
process.on("SIGTERM", () => void stop(0));
process.on("SIGINT", () => void stop(0));
try {
  await supervisor.start();
  process.stderr.write(`stack ready in ${dir}\n`);
} catch (err) {
  process.stderr.write(`stack failed to start: ${errorMessage(err)}\n`);
  try {
    supervisor.writeState(false, errorMessage(err));
  } catch {
    writeFileSync(join(dir, "stack.json"), JSON.stringify({ ready: false, error: errorMessage(err), pid: process.pid }));
  }
  await stop(1);
}
