import { readFile } from "node:fs/promises";
import { FaultlineError, errorMessage } from "../errors.ts";
import type { RunRecord } from "../schema/run-record.ts";
import { RunRecordSchema } from "../schema/run-schema.ts";

/** A stored run.json, checked against its schema: a file from elsewhere, or damaged, is said to be so, not half read. */
export async function readRunRecord(file: string): Promise<RunRecord> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, "utf8"));
  } catch (cause) {
    throw new FaultlineError("E_FILE", `cannot read ${file}: ${errorMessage(cause)}`, { cause });
  }
  const r = RunRecordSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new FaultlineError("E_INVALID_INPUT", `${file} is not a faultline run record (schema version 1): ${first.join("; ")}${r.error.issues.length > 3 ? ` and ${r.error.issues.length - 3} more` : ""}`);
  }
  return r.data;
}
