import { z } from "zod";

/**
 * repeats.json: one experiment run N times on one target (`faultline run --repeat N`, and
 * `faultline calibrate`, which runs it without its faults). Every run keeps its own folder and
 * run.json; this record holds what the runs say together.
 */
export const Counts = z.object({ pass: z.number(), fail: z.number(), inconclusive: z.number(), aborted: z.number(), error: z.number() });
export type Counts = z.infer<typeof Counts>;

const Spread = z.object({
  n: z.number(),
  median: z.number(),
  ci: z.tuple([z.number(), z.number()]).meta({ description: "bootstrap 95 % interval of the median" }),
  min: z.number(),
  max: z.number(),
});

export const RepeatRecord = z.object({
  version: z.literal(1),
  kind: z.enum(["repeat", "calibration"]),
  experiment: z.string(),
  target: z.string(),
  startedAt: z.number(),
  endedAt: z.number(),
  timeScale: z.number(),
  rateScale: z.number(),
  runs: z.array(z.object({ runDir: z.string().meta({ description: "relative to this file's folder's parent" }), runId: z.string(), verdict: z.string(), startedAt: z.number() })),
  verdicts: Counts.meta({ description: "the runs' verdicts" }),
  assertions: z.array(z.object({ name: z.string(), kind: z.string(), counts: Counts })).meta({ description: "per check (the steady state included): how often it said what" }),
  metrics: z.array(z.object({ metric: z.string(), subject: z.string(), unit: z.string(), values: z.array(z.number()), spread: Spread })),
});
export type RepeatRecord = z.infer<typeof RepeatRecord>;
export const REPEATS_FILE = "repeats.json";
