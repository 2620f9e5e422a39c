import { FaultlineError } from "../errors.ts";
import type { Selector } from "../schema/experiment.ts";

export interface Selectable {
  name: string;
  labels: Record<string, string>;
}

function describe(sel: Selector): string {
  const parts: string[] = [];
  if (sel.matchLabels) parts.push(Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`).join(","));
  if (sel.names) parts.push(`names=${sel.names.join(",")}`);
  return parts.join(" ");
}

/**
 * Applies a selector; the result is sorted by name so that `count` and `percent` pick the same
 * members every run. An empty result is an error: a fault that hits nothing proves nothing.
 */
export function select<T extends Selectable>(items: readonly T[], sel: Selector, what: string): T[] {
  let matched = items.filter(
    (it) =>
      (sel.names === undefined || sel.names.includes(it.name)) &&
      Object.entries(sel.matchLabels ?? {}).every(([k, v]) => it.labels[k] === v),
  );
  matched = [...matched].sort((a, b) => a.name.localeCompare(b.name));
  if (matched.length === 0) {
    const known = items.map((it) => `${it.name} {${Object.entries(it.labels).map(([k, v]) => `${k}=${v}`).join(",")}}`);
    throw new FaultlineError(
      "E_TARGET",
      `selector ${describe(sel)} matched no ${what}; the target has: ${known.length ? known.join("; ") : "none"}`,
    );
  }
  let n = matched.length;
  if (sel.count !== undefined) n = Math.min(n, sel.count);
  if (sel.percent !== undefined) n = Math.min(n, Math.ceil((matched.length * sel.percent) / 100));
  return matched.slice(0, n);
}
