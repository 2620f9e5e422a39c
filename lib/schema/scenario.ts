import { z } from "zod";
import { API_VERSION, Metadata, ParamValue } from "./experiment.ts";
import { strictObject } from "./strict.ts";

/**
 * A scenario: reusable, parameterised faults (and the assertions that go with them) that experiments
 * pull in with `scenarios: [{ use: region-outage, with: { region: us-east } }]`. Expanded and checked
 * by lib/loader/scenarios.ts.
 */
export const ScenarioParam = strictObject({
  description: z.string().optional(),
  default: ParamValue.optional().meta({ description: "without one, every experiment that uses the scenario must give the parameter" }),
});

const ParamName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, "expected a name of letters, digits and _");

export const Scenario = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("Scenario"),
  metadata: Metadata,
  params: z.record(ParamName, ScenarioParam).default({}),
  faults: z.array(z.record(z.string(), z.unknown())).default([]).meta({ description: "faults as in an experiment; checked once the parameters are filled in" }),
  assertions: z.array(z.record(z.string(), z.unknown())).default([]).meta({ description: "assertions as in an experiment; checked once the parameters are filled in" }),
}).refine((s) => s.faults.length + s.assertions.length > 0, { message: "a scenario needs faults or assertions", path: ["faults"] });
export type Scenario = z.infer<typeof Scenario>;
