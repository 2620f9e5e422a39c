import { expect } from "chai";
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { Journal, findUnfinishedRuns, pendingActions, readJournal } from "../../lib/engine/journal.ts";

const undo = { driver: "toxiproxy", api: "http://127.0.0.1:1", proxy: "p", toxic: "t" };

describe("engine: journal", () => {
  it("writes one flushed JSON line per entry and finds what was never reverted, newest first", () => {
    const dir = tempDir("journal");
    const j = new Journal(dir);
    j.append({ type: "run-start", runId: "r", pid: 999_999_999, host: "elsewhere", experiment: "e" });
    j.append({ type: "inject", actionId: "a#0", fault: "a", description: "first", deadline: 0, undo });
    j.append({ type: "injected", actionId: "a#0" });
    j.append({ type: "inject", actionId: "b#0", fault: "b", description: "second", deadline: 0, undo });
    j.append({ type: "inject", actionId: "c#0", fault: "c", description: "third", deadline: 0, undo });
    j.append({ type: "reverted", actionId: "b#0", by: "run" });
    j.close();
    expect(readFileSync(j.path, "utf8").trim().split("\n")).to.have.length(6);
    const pending = pendingActions(readJournal(j.path));
    expect(pending.map((p) => p.actionId)).to.deep.equal(["c#0", "a#0"]);
  });

  it("skips a torn last line from a killed process", () => {
    const dir = tempDir("journal");
    const j = new Journal(dir);
    j.append({ type: "inject", actionId: "a#0", fault: "a", description: "x", deadline: 0, undo });
    j.close();
    appendFileSync(j.path, '{"type":"reverted","actionI');
    expect(pendingActions(readJournal(j.path))).to.have.length(1);
  });

  it("treats a run whose process is gone as orphaned, and one still running as not", async () => {
    const out = tempDir("journal-out");
    const write = (name: string, pid: number): void => {
      mkdirSync(join(out, name));
      const j = new Journal(join(out, name));
      j.append({ type: "run-start", runId: name, pid, host: hostname(), experiment: "e" });
      j.append({ type: "inject", actionId: "a#0", fault: "a", description: "x", deadline: 0, undo });
      j.close();
    };
    write("dead", 2 ** 22 + 7); // above the kernel's pid_max default: no such process
    write("alive", process.pid);
    expect(await findUnfinishedRuns(out)).to.deep.equal([{ runDir: join(out, "alive"), owner: process.pid }, { runDir: join(out, "dead") }]);
  });
});
