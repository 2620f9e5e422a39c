import { FaultlineError } from "../errors.ts";
import type { Target } from "../schema/target.ts";

/** A logical endpoint of the target (`gateway`) with a path, or an error that lists the ones it has. */
export function endpointUrl(target: Target, endpoint: string, path: string): string {
  const e = Object.hasOwn(target.endpoints, endpoint) ? target.endpoints[endpoint] : undefined;
  if (e === undefined) {
    throw new FaultlineError("E_TARGET", `no endpoint "${endpoint}" in target ${target.metadata.name} (have: ${Object.keys(target.endpoints).join(", ") || "none"})`);
  }
  return new URL(path, e.url).toString();
}
