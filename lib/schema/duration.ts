import { z } from "zod";
import { quote } from "../text.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The longest duration a document may give: a week. Longer is a typo, or a number that overflowed. */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Parses `250ms`, `30s`, `1.5m`, `2h` into milliseconds; compound forms like `1m30s` too. Undefined past MAX_DURATION_MS. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed.length > 64) return undefined;
  let total = 0;
  let rest = trimmed;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return Number.isFinite(total) && total <= MAX_DURATION_MS ? Math.round(total) : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(3)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s === 0 ? `${m}m` : `${m}m${s}s`;
}

/** A duration in YAML, written `250ms`, `30s` or `2m`; parsed into milliseconds. */
export const Duration = z
  .string({ error: "expected a duration such as 250ms, 30s or 2m" })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      const tooLong = /^\s*(\d+(\.\d+)?(ms|s|m|h))+\s*$/.test(text);
      ctx.addIssue({
        code: "custom",
        message: tooLong
          ? `duration ${quote(text)} is longer than the limit of ${MAX_DURATION_MS / 3_600_000}h`
          : `invalid duration ${quote(text)}: expected a number followed by ms, s, m or h (e.g. 250ms, 30s, 2m)`,
      });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ type: "string", pattern: DURATION_RE.source.replace(/\$$/, "") + "(\\d+(\\.\\d+)?(ms|s|m|h))*$", description: "a duration: 250ms, 30s, 2m, 1m30s" });
