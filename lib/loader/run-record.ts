import { readFile } from "node:fs/promises";
import { FaultlineError, errorMessage } from "../errors.ts";
import type { z } from "zod";
import { RepeatRecord } from "../schema/repeat-record.ts";
import type { RunRecord } from "../schema/run-record.ts";
import { RunRecordSchema } from "../schema/run-schema.ts";

/** A stored record, checked against its schema: a file from elsewhere, or damaged, is said to be so, not half read. */
async function readChecked<T>(file: string, schema: z.ZodType<T>, what: string): Promise<T> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, "utf8"));
  } catch (cause) {
    throw new FaultlineError("E_FILE", `cannot read ${file}: ${errorMessage(cause)}`, { cause });
  }
  const r = schema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new FaultlineError("E_INVALID_INPUT", `${file} is not a faultline ${what} (schema version 1): ${first.join("; ")}${r.error.issues.length > 3 ? ` and ${r.error.issues.length - 3} more` : ""}`);
  }
  return r.data;
}

export const readRunRecord = (file: string): Promise<RunRecord> => readChecked(file, RunRecordSchema as z.ZodType<RunRecord>, "run record");

/** repeats.json: N runs of one experiment (`--repeat`, `calibrate`). */
export const readRepeatRecord = (file: string): Promise<RepeatRecord> => readChecked(file, RepeatRecord, "repeat record");
