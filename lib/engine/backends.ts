import { FaultlineError } from "../errors.ts";
import { FAULT_BACKENDS } from "../faults/catalog.ts";
import type { Backend } from "../faults/types.ts";
import { TARGET_BACKENDS } from "../targets/index.ts";

/** Every backend a journal can name: the fault backends, and the targets that start something. */
const UNDO_BACKENDS: Record<string, Backend> = { ...FAULT_BACKENDS, ...TARGET_BACKENDS };

export function undoBackend(name: string): Backend {
  const b = Object.hasOwn(UNDO_BACKENDS, name) ? UNDO_BACKENDS[name] : undefined;
  if (b === undefined) throw new FaultlineError("E_DRIVER", `no backend "${name}" to revert with (known: ${Object.keys(UNDO_BACKENDS).join(", ")})`);
  return b;
}
