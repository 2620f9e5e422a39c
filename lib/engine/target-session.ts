import { errorMessage } from "../errors.ts";
import type { UndoRecord } from "../faults/types.ts";
import { startWebhookReceiver } from "../observe/webhook.ts";
import type { WebhookReceiver } from "../observe/webhook.ts";
import type { Target } from "../schema/target.ts";
import { localStackDir, startTarget, targetUndo } from "../targets/index.ts";
import type { StartedTarget } from "../targets/index.ts";
import { undoBackend } from "./backends.ts";
import type { Journal } from "./journal.ts";

/**
 * How long stopping a started target may take. Its timer also keeps the process alive while the stop
 * waits: once, a testcontainers run's stop awaited a reply that nothing was left to deliver, Node found
 * no work left and exited mid-stop ("unsettled top-level await"), without run.json, its containers
 * left running to starve the next runs.
 */
export const TARGET_STOP_LIMIT_MS = 120_000;

/**
 * A run's target, from start to stop: the run's own Alertmanager receiver, and a built-in target
 * started for the run, journaled before it starts so that a killed run's stack is found and stopped.
 */
export class TargetSession {
  started: StartedTarget | undefined;
  private undo: UndoRecord | undefined;
  private webhook: WebhookReceiver | undefined;
  private readonly o: { runId: string; runDir: string; journal: Journal | undefined; event(type: string, message: string): void; stackSets?: string[] | undefined; stackConfig?: string | undefined };

  constructor(o: TargetSession["o"]) {
    this.o = o;
  }

  /** The system under test's process groups on this host (see StartedTarget.processGroups): for a target document, those of the state folder it sits in, if any. */
  processGroups(): number[] | undefined {
    return this.started === undefined ? [] : this.started.processGroups?.();
  }

  async start(t: Target | string): Promise<Target> {
    // The receiver comes first: a started stack points its Alertmanager at it.
    if (typeof t === "string" || t.stack?.control !== undefined || t.alertmanager !== undefined) this.webhook = await startWebhookReceiver(this.o.event);
    if (typeof t !== "string") return t;
    this.o.event("target", `starting target ${t}…`);
    const req = { ref: t, runDir: this.o.runDir, runId: this.o.runId };
    this.undo = targetUndo(req);
    if (this.undo) this.o.journal?.append({ type: "inject", actionId: "target#stack", fault: "target", description: `${t} stack in ${localStackDir(this.o.runDir)}`, deadline: 0, undo: this.undo });
    this.started = await startTarget({ ...req, ...(this.webhook ? { webhookUrl: this.webhook.url } : {}), ...(this.o.stackSets ? { stackSets: this.o.stackSets } : {}), ...(this.o.stackConfig ? { stackConfig: this.o.stackConfig } : {}) });
    for (const note of this.started.notes ?? []) this.o.event("target", note);
    this.o.event("target", `target ${t} ready`);
    return this.started.target;
  }

  /** Stops what was started; a target that failed half-way through starting is undone from its journal record. */
  async stop(): Promise<void> {
    await this.webhook?.stop().catch(() => undefined);
    if (this.started === undefined && this.undo === undefined) return;
    this.o.event("target", "stopping target");
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`it did not finish within ${TARGET_STOP_LIMIT_MS / 1000} s; its journal record stays active: \`faultline recover\` finishes the job`)), TARGET_STOP_LIMIT_MS);
    });
    const undo = this.undo;
    const stopping = this.started ? this.started.stop() : undo ? undoBackend(undo.driver).revert(undo) : Promise.resolve();
    try {
      await Promise.race([stopping, limit]);
      if (undo) this.o.journal?.append({ type: "reverted", actionId: "target#stack", by: "run" });
    } catch (err) {
      this.o.event("error", `stopping the target: ${errorMessage(err)}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
