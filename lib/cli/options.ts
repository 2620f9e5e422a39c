import { InvalidArgumentError } from "commander";
import { parseDuration } from "../schema/duration.ts";

/** Option parsers shared by the commands: each says what it expected, as commander reports it. */
export const positiveNumber = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("expected a positive number");
  return n;
};

export const durationMs = (v: string): number => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError("expected a duration such as 10s or 2m");
  return ms;
};

/** For repeatable options: `--set a=1 --set b=2`. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];
