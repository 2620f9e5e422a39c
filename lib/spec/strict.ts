import { z } from "zod";

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

/**
 * Separates the per-key messages of one unrecognized_keys issue; the loader splits on it so that
 * each unknown key is reported at its own line and column.
 */
export const KEY_MESSAGE_SEPARATOR = "\u001f";

export function unknownKeyMessage(key: string, valid: readonly string[]): string {
  const guess = didYouMean(key, valid);
  return guess === undefined
    ? `unknown key "${key}"; expected one of: ${valid.join(", ")}`
    : `unknown key "${key}"; did you mean "${guess}"?`;
}

/** A strict object whose unknown-key errors suggest the closest valid key. */
export function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== "unrecognized_keys") return undefined;
      return iss.keys.map((k) => unknownKeyMessage(k, valid)).join(KEY_MESSAGE_SEPARATOR);
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
      if (typeof input !== "string") return `${discriminator} is required: one of ${values.join(", ")}`;
      const guess = didYouMean(input, values);
      return `unknown ${what} "${input}"${guess ? `; did you mean "${guess}"?` : ""} (valid: ${values.join(", ")})`;
    },
  });
}

export const Labels = z.record(z.string(), z.string());
