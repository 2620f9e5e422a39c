import { FaultlineError, errorMessage } from "../../errors.ts";
import type { SelectingFault } from "../../schema/faults.ts";
import type { Target } from "../../schema/target.ts";
import { select } from "../select.ts";
import type { PlanContext } from "../types.ts";

/** The reference stack's control API (lib/stack), as its fault kinds call it. */

export type StackSection = NonNullable<Target["stack"]>;

const CALL_MS = 5000;

export async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  let res: Response;
  try {
    res = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(CALL_MS) });
  } catch (cause) {
    throw new FaultlineError("E_DRIVER", `stack: ${method} ${url} failed: ${errorMessage(cause)}`, { cause });
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

export function stackOf(ctx: PlanContext, kind: string): StackSection {
  const s = ctx.target.stack;
  if (s === undefined) {
    throw new FaultlineError("E_TARGET", `fault ${ctx.faultName} (${kind}) needs a stack section in target ${ctx.target.metadata.name} (the local reference stack has one)`);
  }
  return s;
}

/** The replicas the fault's selector matches (a replica's own name is the label `replica`). */
export function replicas(ctx: PlanContext, fault: Pick<SelectingFault, "kind" | "selector">): { s: StackSection; chosen: StackSection["replicas"] } {
  const s = stackOf(ctx, fault.kind);
  const items = s.replicas.map((r) => ({ ...r, labels: { ...r.labels, replica: r.name } }));
  return { s, chosen: select(items, fault.selector, "replica") };
}
