import { z } from "zod";
import { API_VERSION, Metadata } from "./experiment.ts";
import { strictObject } from "./strict.ts";

/** One step of a game day: an experiment, and what the people running it should know and expect. */
export const GameDayStep = strictObject({
  experiment: z.string().meta({ description: "an experiment file, relative to the plan" }),
  title: z.string(),
  owner: z.string().optional(),
  hypothesis: z.string().meta({ description: "the hypothesis in words, read out before the injection" }),
  runbook: z.url().optional(),
  expectAlerts: z.array(z.string()).default([]).meta({ description: "alerts that should fire during this step; the report shows which did" }),
  haltOnFailure: z.boolean().optional().meta({ description: "default: the plan's haltOnFailure" }),
});

/** A game day: an ordered list of experiments that a team runs together against staging. */
export const GameDay = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("GameDay"),
  metadata: Metadata,
  title: z.string(),
  owners: z.array(z.string()).min(1),
  target: z.string().optional().meta({ description: "the target of every step (local, kubernetes or a file); --target overrides it" }),
  runbook: z.url().optional(),
  haltOnFailure: z.boolean().default(true).meta({ description: "a step that does not pass stops the plan" }),
  steps: z.array(GameDayStep).min(1),
});
export type GameDay = z.infer<typeof GameDay>;
export type GameDayStep = z.infer<typeof GameDayStep>;
