import { z } from "zod";
import { Experiment } from "./experiment.ts";
import { RunRecordSchema } from "./run-schema.ts";
import { GameDay } from "./gameday.ts";
import { Scenario } from "./scenario.ts";
import { Target } from "./target.ts";

export const SCHEMA_KINDS = { experiment: Experiment, target: Target, scenario: Scenario, gameday: GameDay, run: RunRecordSchema } as const;
export type SchemaKind = keyof typeof SCHEMA_KINDS;

/** The JSON Schema of what a user writes (input side: durations are strings, defaults optional). */
export function jsonSchema(kind: SchemaKind): Record<string, unknown> {
  const schema = z.toJSONSchema(SCHEMA_KINDS[kind], { io: kind === "run" ? "output" : "input", unrepresentable: "any", target: "draft-2020-12" });
  return { ...schema, $id: `https://faultline.dev/schemas/${kind}.schema.json`, title: `faultline ${kind}` };
}
