/** Text for messages: a user's values quoted, shortened and safe to print. */

const MAX_QUOTED = 60;

/** A user's value in a message: JSON-quoted (control characters escaped) and shortened. */
export function quote(value: unknown, max = MAX_QUOTED): string {
  const text = typeof value === "string" ? value : describeValue(value);
  const short = text.length > max ? `${text.slice(0, max)}…` : text;
  const json = JSON.stringify(short);
  return text.length > max ? `${json} (${text.length} characters)` : json;
}

/** What a value is, in a user's words: `a mapping`, `a list`, `the number 3`. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}
