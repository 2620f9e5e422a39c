import { FaultlineError } from "../errors.ts";

export interface RangeSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

/** A range query (`start`/`end` in epoch ms, `stepS` seconds); a failed query is an E_TOOL error naming `what` and the expression. */
export async function promRange(url: string, expr: string, start: number, end: number, what: string, stepS = 1): Promise<RangeSeries[]> {
  const q = `${url}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${start / 1000}&end=${end / 1000}&step=${stepS}s`;
  const res = await fetch(q, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: RangeSeries[] } };
  if (body.status !== "success") throw new FaultlineError("E_TOOL", `${what}: query ${expr} failed: ${body.error}`);
  return body.data?.result ?? [];
}
