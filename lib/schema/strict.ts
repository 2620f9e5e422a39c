import { z } from "zod";
import { describeValue, quote } from "../text.ts";

/** Levenshtein distance, small inputs only (key names). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = editDistance(input.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      best = c;
      bestScore = d;
    }
  }
  const limit = Math.max(2, Math.floor((best?.length ?? 0) / 3));
  return bestScore <= limit ? best : undefined;
}

export function unknownKeyMessage(key: string, valid: readonly string[]): string {
  const guess = key.length > 200 ? undefined : didYouMean(key, valid);
  return guess === undefined
    ? `unknown key ${quote(key)}; expected one of: ${valid.join(", ")}`
    : `unknown key ${quote(key)}; did you mean "${guess}"?`;
}

/**
 * The per-key messages of one unrecognized_keys issue, which carries them as a JSON list (a key may
 * hold any character, so no separator would do); the loader reports each key at its own line.
 */
export function keyMessages(message: string, keys: readonly string[]): string[] {
  try {
    const list: unknown = JSON.parse(message);
    if (Array.isArray(list) && list.every((m) => typeof m === "string")) return list;
  } catch {
    // a message zod wrote itself
  }
  return keys.map((k) => `unknown key ${quote(k)}`);
}

/** A strict object whose unknown-key errors suggest the closest valid key. */
export function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== "unrecognized_keys") return undefined;
      return JSON.stringify(iss.keys.map((k) => unknownKeyMessage(k, valid)));
    },
  });
}

/** A discriminated union whose error for an unknown discriminator lists the valid values. */
export function kindUnion<const Options extends readonly [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]]>(
  discriminator: string,
  options: Options,
  what: string,
) {
  const values = options.flatMap((o) => [...(o._zod.propValues?.[discriminator] ?? [])].map(String));
  return z.discriminatedUnion(discriminator, options, {
    error: (iss) => {
      if (iss.code !== "invalid_union") return undefined;
      const input = (iss.input as Record<string, unknown> | undefined)?.[discriminator];
      if (input === undefined) return `${discriminator} is required: one of ${values.join(", ")}`;
      if (typeof input !== "string") return `${discriminator} must be a string, found ${describeValue(input)}: one of ${values.join(", ")}`;
      const guess = input.length > 200 ? undefined : didYouMean(input, values);
      return `unknown ${what} ${quote(input)}${guess ? `; did you mean "${guess}"?` : ""} (valid: ${values.join(", ")})`;
    },
  });
}

export const Labels = z.record(z.string(), z.string());

/** A name as Kubernetes names things: lower-case letters, digits and '-'. */
export const Name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "expected lower-case letters, digits and '-' (like a DNS label)");
