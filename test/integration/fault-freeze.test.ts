import { expect } from "chai";
import { connect } from "node:net";
import { pino } from "pino";
import { undoBackend } from "../../lib/engine/backends.ts";
import { planFault } from "../../lib/faults/catalog.ts";
import { loadOne } from "../../lib/loader/documents.ts";
import { Fault } from "../../lib/schema/faults.ts";
import { startStack } from "../helpers/stack.ts";
import type { StartedStack } from "../helpers/stack.ts";

const answers = (url: string): Promise<boolean> => fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) }).then(() => true, () => false);
const accepts = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    const s = connect({ host: hostname, port: Number(port), timeout: 500 }, () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
    s.once("timeout", () => (s.destroy(), resolve(false)));
  });

/**
 * The `freeze` kind against the real local stack: the chosen replica's process is stopped, so its
 * socket still accepts and nothing answers (a hung GPU, not a dead one); the revert brings it back,
 * and the journal's record is what `recover` would check and undo.
 */
describe("fault kind freeze (the real local stack)", function () {
  this.timeout(120_000);
  let stack: StartedStack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.down();
  });

  it("stops one replica: connections accepted, nothing answered, the others untouched; the revert thaws it", async () => {
    const target = await loadOne(stack.state.targetFile, "Target");
    const fault = Fault.parse({ name: "hang", kind: "freeze", selector: { names: ["us-east-1"] }, duration: "10s" });
    const plan = await planFault(fault, { runId: "t", faultName: "hang", target, log: pino({ level: "silent" }) });
    expect(plan.targets).to.deep.equal(["us-east-1"]);
    const [action] = plan.actions;
    if (action === undefined) throw new Error("no action");
    const replica = (name: string): string => stack.state.replicas.find((r) => r.name === name)?.url as string;
    const backend = undoBackend(action.undo.driver);
    expect(backend.parse(action.undo), "the journal record passes its schema").to.deep.equal(action.undo);
    expect(await backend.isActive?.(action.undo)).to.equal(false);

    await action.apply();
    expect(await accepts(replica("us-east-1")), "a frozen replica still accepts").to.equal(true);
    expect(await answers(replica("us-east-1")), "and answers nothing").to.equal(false);
    expect(await answers(replica("us-east-2"))).to.equal(true);
    expect(await backend.isActive?.(action.undo)).to.equal(true);

    await backend.revert(action.undo);
    expect(await answers(replica("us-east-1"))).to.equal(true);
    expect(await backend.isActive?.(action.undo)).to.equal(false);
    await backend.revert(action.undo); // idempotent
  });

  it("a damaged journal record is refused with the reason, not half undone", () => {
    const r = undoBackend("stack").parse({ driver: "stack", op: "thaw-replica", control: "http://127.0.0.1:1" });
    expect(r).to.be.a("string").that.matches(/malformed stack undo record .*replica: Invalid input/);
  });
});
