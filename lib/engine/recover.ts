import { join } from "node:path";
import { FaultlineError, errorMessage } from "../errors.ts";
import { undoBackend } from "./backends.ts";
import { Journal, JOURNAL_FILE, findUnfinishedRuns, ownerAlive, pendingActions, readJournal, runStart } from "./journal.ts";

export interface RecoverResult {
  runDir: string;
  reverted: string[];
  failed: { actionId: string; description: string; error: string }[];
  skipped?: string;
}

/**
 * Reverts, from the journal alone, every action of a run that has no `reverted` line; newest first.
 * Each outcome is appended to the same journal, so a second recover finds nothing left to do.
 */
export async function recoverRun(runDir: string, opts: { force?: boolean } = {}): Promise<RecoverResult> {
  const entries = readJournal(join(runDir, JOURNAL_FILE));
  const result: RecoverResult = { runDir, reverted: [], failed: [] };
  const pending = pendingActions(entries);
  if (pending.length === 0) return result;
  if (!opts.force && ownerAlive(entries)) {
    const pid = runStart(entries)?.pid;
    result.skipped = `still running as pid ${pid} on this host, which reverts its own faults when it ends: stop it with \`kill -TERM ${pid}\`, or revert now with \`faultline recover --force\``;
    return result;
  }
  const journal = new Journal(runDir);
  try {
    for (const action of pending) {
      try {
        // the record is checked against its backend's schema first: a damaged line is reported, not half undone
        const backend = undoBackend(action.undo.driver);
        const undo = backend.parse(action.undo);
        if (typeof undo === "string") throw new FaultlineError("E_INVALID_INPUT", undo);
        await backend.revert(undo);
        journal.append({ type: "reverted", actionId: action.actionId, by: "recover" });
        result.reverted.push(action.description);
      } catch (err) {
        const error = errorMessage(err);
        journal.append({ type: "revert-failed", actionId: action.actionId, error, by: "recover" });
        result.failed.push({ actionId: action.actionId, description: action.description, error });
      }
    }
  } finally {
    journal.close();
  }
  return result;
}

/**
 * Every unfinished run under `outDir`: orphans are recovered; a run whose owner is alive is left to
 * it (reported as skipped), unless `force`.
 */
export async function recoverAll(outDir: string, opts: { force?: boolean } = {}): Promise<RecoverResult[]> {
  const results: RecoverResult[] = [];
  for (const { runDir } of await findUnfinishedRuns(outDir)) results.push(await recoverRun(runDir, opts));
  return results;
}

/** Before a run touches anything: faults left behind by runs that crashed are reverted; a live run's are left to it. */
export async function recoverBeforeRun(outDir: string, event: (type: string, message: string, data?: Record<string, unknown>) => void): Promise<void> {
  for (const r of await recoverAll(outDir)) {
    if (r.skipped !== undefined) {
      event("recover", `${r.runDir} is ${r.skipped}; its faults are left to it`, { runDir: r.runDir });
      continue;
    }
    event("recover", `reverted ${r.reverted.length} action(s) left by ${r.runDir}${r.failed.length ? `; ${r.failed.length} could not be reverted` : ""}`, { runDir: r.runDir, failed: r.failed });
    if (r.failed.length > 0) throw new FaultlineError("E_REVERT", `faults left by ${r.runDir} could not be reverted: ${r.failed.map((f) => f.error).join("; ")}`);
  }
}
