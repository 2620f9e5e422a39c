import { expect } from "chai";
import { ESLint } from "eslint";
import { LAYERS } from "../../lib/layers.js";

/** `make lint` enforces the layers of lib/ (lib/layers.js): an import that runs up a layer fails it. */
describe("layers: the lint rule bites", function () {
  this.timeout(60_000);
  const eslint = new ESLint();
  const problems = async (filePath: string, code: string): Promise<string[]> =>
    (await eslint.lintText(code, { filePath })).flatMap((r) => r.messages).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);

  it("refuses an import that runs up a layer, naming what the room may use", async () => {
    expect(await problems("lib/schema/probe.ts", `import { runExperiment } from "../engine/run.ts";\nexport const x = runExperiment;\n`)).to.deep.equal([
      "'../engine/run.ts' import is restricted from being used by a pattern. lib/schema may import from no other room (and errors, clock, text): see lib/README.md",
    ]);
    expect(await problems("lib/faults/kubernetes/probe.ts", `import { startTarget } from "../../targets/index.ts";\nexport const x = startTarget;\n`)).to.have.length(1);
    expect(await problems("lib/errors-probe.ts", `import { Fault } from "./schema/faults.ts";\nexport const x = Fault;\n`)).to.deep.equal([]);
    expect(await problems("lib/clock.ts", `import { Fault } from "./schema/faults.ts";\nexport const x = Fault;\n`)).to.have.length(1);
  });

  it("lets a room use the rooms below it", async () => {
    expect(await problems("lib/engine/probe.ts", `import { Fault } from "../schema/faults.ts";\nimport { planFault } from "../faults/catalog.ts";\nexport const x = [Fault, planFault];\n`)).to.deep.equal([]);
  });

  it("every room's allowed rooms are rooms, and none allows itself or one above it in a circle", () => {
    const rooms = Object.keys(LAYERS);
    for (const [room, allowed] of Object.entries(LAYERS)) for (const a of allowed) expect(rooms, `${room} → ${a}`).to.include(a);
    // no cycles: a room's allowed rooms never reach back to it
    const reaches = (from: string, seen = new Set<string>()): Set<string> => {
      for (const a of LAYERS[from] ?? []) if (!seen.has(a)) reaches(a, seen.add(a));
      return seen;
    };
    for (const room of rooms) expect([...reaches(room)], room).to.not.include(room);
  });
});
