import { FaultlineError } from "../errors.ts";
import { BuiltinLoadEngine } from "./builtin.ts";
import { K6LoadEngine } from "./k6.ts";
import type { LoadEngine } from "./types.ts";

const engines = new Map<string, () => LoadEngine>([
  ["builtin", () => new BuiltinLoadEngine()],
  ["k6", () => new K6LoadEngine()],
]);

export function registerLoadEngine(name: string, make: () => LoadEngine): void {
  engines.set(name, make);
}

export function loadEngine(name: string): LoadEngine {
  const make = engines.get(name);
  if (make === undefined) throw new FaultlineError("E_INVALID_INPUT", `unknown load engine "${name}" (known: ${[...engines.keys()].join(", ")})`);
  return make();
}
