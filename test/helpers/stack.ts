import { loadStackConfig } from "../../lib/stack/config.ts";
import { groupMembers } from "../../lib/proc/group.ts";
import { stackDown, stackUp } from "../../lib/stack/lifecycle.ts";
import type { StackState } from "../../lib/stack/placement.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fixtures.ts";

export interface StartedStack extends AsyncDisposable {
  state: StackState;
  dir: string;
  pgid: number;
  down(): Promise<void>;
}

/** A real stack in a temp folder (its own ports and processes), stopped by `down()`. */
export async function startStack(sets: string[] = []): Promise<StartedStack> {
  const dir = tempDir("stack");
  const state = await stackUp(await loadStackConfig(undefined, sets), { dir });
  const pgid = Number(readFileSync(join(dir, "stack.pgid"), "utf8"));
  const down = async (): Promise<void> => {
    await stackDown({ dir });
  };
  return { state, dir, pgid, down, [Symbol.asyncDispose]: down };
}

export { groupMembers };

export async function promQuery(state: StackState, expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${state.endpoints.prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  return body.data.result;
}

export async function firingAlerts(state: StackState): Promise<{ labels: Record<string, string>; state: string }[]> {
  const res = await fetch(`${state.endpoints.prometheus}/api/v1/alerts`);
  const body = (await res.json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
  return body.data.alerts;
}
