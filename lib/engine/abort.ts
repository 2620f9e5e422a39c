import type { AbortCondition } from "../schema/experiment.ts";
import type { ProbeSample } from "../schema/run-record.ts";
import { BUCKET_MS, errorsOf } from "../schema/series.ts";
import type { LoadSeries } from "../schema/series.ts";
import { abortTriggered } from "../judge/probes.ts";

/** What an abort condition can look at while the run goes on. */
export interface AbortContext {
  now(): number;
  probes(name: string): readonly ProbeSample[];
  load(): LoadSeries | undefined;
  prometheus(): string | undefined;
}

/** Why the condition holds now, or undefined. */
type Check = () => Promise<string | undefined> | string | undefined;

/** The client error rate stayed above `above` over the whole trailing `forMs` (buckets still open count as sent so far). */
function errorRateAbove(series: LoadSeries | undefined, above: number, forMs: number, now: number): string | undefined {
  if (series === undefined || now - series.start < forMs) return undefined;
  let sent = 0;
  let errors = 0;
  for (const b of series.buckets) {
    if (b === undefined || b.t < now - forMs || b.t + BUCKET_MS > now) continue;
    sent += b.outcomes.ok + errorsOf(b.outcomes) + b.outcomes.dropped;
    errors += errorsOf(b.outcomes) + b.outcomes.dropped;
  }
  return sent > 0 && errors / sent > above ? `client error rate ${((errors / sent) * 100).toFixed(1)}% > ${(above * 100).toFixed(1)}% for ${forMs / 1000}s` : undefined;
}

/** A PromQL condition: true while the query returns anything, asked at most once a second. */
function promql(c: Extract<AbortCondition, { kind: "promql" }>, ctx: AbortContext): Check {
  let since: number | undefined;
  let last = 0;
  return async () => {
    const url = ctx.prometheus();
    const now = ctx.now();
    if (url === undefined || now - last < 1000) return undefined;
    last = now;
    try {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(c.expr)}`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { data?: { result?: unknown[] } };
      if ((body.data?.result?.length ?? 0) === 0) {
        since = undefined;
        return undefined;
      }
      since ??= now;
      return now - since >= c.for ? `PromQL \`${c.expr}\` true for ${((now - since) / 1000).toFixed(0)}s` : undefined;
    } catch {
      return undefined; // an unreachable Prometheus is the observer's to report, not a reason to abort
    }
  };
}

/** Abort conditions by kind: every kind the schema allows has a check. */
const CHECKS: { [K in AbortCondition["kind"]]: (c: Extract<AbortCondition, { kind: K }>, ctx: AbortContext) => Check } = {
  probe: (c, ctx) => () => abortTriggered(c, ctx.probes(c.probe), ctx.now()),
  "error-rate": (c, ctx) => () => errorRateAbove(ctx.load(), c.above, c.for, ctx.now()),
  promql,
};

/** One check over all of an experiment's conditions: the first that holds says why. */
export function abortChecks(conditions: readonly AbortCondition[], ctx: AbortContext): () => Promise<string | undefined> {
  // each entry is built by the function for its own kind
  const checks = conditions.map((c) => (CHECKS[c.kind] as (c: AbortCondition, ctx: AbortContext) => Check)(c, ctx));
  return async () => {
    for (const check of checks) {
      const why = await check();
      if (why !== undefined) return why;
    }
    return undefined;
  };
}
