import { InvalidArgumentError } from "commander";
import { FaultlineError, ValidationError } from "../errors.ts";
import { parseDuration } from "../schema/duration.ts";

/** Option parsers shared by the commands: each says what it expected, as commander reports it. */
export const positiveNumber = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
};

/** A count from 1 to 1,000 (runs, repeats). */
export const wholeNumber = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError("expected a whole number from 1 to 1000");
  return n;
};

export const durationMs = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError("expected a duration such as 10s or 2m");
  return ms;
};

/** For repeatable options: `--set a=1 --set b=2`. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** A mistake in what the user gave (a document, a file that cannot be read): exit 2, never a stack trace. */
export function isInputError(err: unknown): err is FaultlineError {
  return err instanceof ValidationError || (err instanceof FaultlineError && err.code === "E_FILE");
}

