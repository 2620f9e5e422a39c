import { opsBackend } from "../types.ts";
import { endKvPressure } from "./kv-pressure.ts";
import { endSurge } from "./surge.ts";

/** The run's own load generator: its faults end with the run's process, so none needs recovering after a crash. */
export const loadBackend = opsBackend("load", { "end-surge": endSurge, "end-kv-pressure": endKvPressure });
