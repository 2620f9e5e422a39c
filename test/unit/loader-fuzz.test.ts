import { expect } from "chai";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FaultlineError, ValidationError, formatProblem } from "../../lib/errors.ts";
import { loadFile } from "../../lib/loader/documents.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { CRASH_INPUTS, hostileDocument, hostileWorkspace, prng } from "../helpers/hostile.ts";
import { ROOT } from "../helpers/servers.ts";

/** What any input may give: documents, or located problems; never another exception, never a hang. */
async function outcome(file: string): Promise<{ kind: "ok" | "invalid" | "unreadable" | "crash"; text: string }> {
  try {
    await loadFile(file);
    return { kind: "ok", text: "" };
  } catch (err) {
    if (err instanceof ValidationError) return { kind: "invalid", text: err.problems.map(formatProblem).join("\n") };
    if (err instanceof FaultlineError && err.code === "E_FILE") return { kind: "unreadable", text: err.message };
    return { kind: "crash", text: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

// a case that takes longer than this is a hang (the loader's limits keep the worst under a second)
const CASE_BOUND_MS = 2000;
// a located line: file:line:col: path: message (file-level problems name the file alone)
const LOCATED = /^[^\n]+?(:\d+:\d+)?: \S.*$/;

describe("loader fuzz: hostile documents give a located error or load, never a crash or a hang", function () {
  this.timeout(180_000);
  const dir = tempDir("fuzz");
  const ws = hostileWorkspace(dir);

  it("every minimised crash input is a located validation error", async () => {
    for (const [name, c] of Object.entries(CRASH_INPUTS)) {
      writeFileSync(ws.caseFile, c.source);
      const t0 = performance.now();
      const r = await outcome(ws.caseFile);
      expect(performance.now() - t0, `${name} took too long`).to.be.below(CASE_BOUND_MS);
      expect(r.kind, `${name}: ${r.text}`).to.equal("invalid");
      expect(r.text, name).to.match(c.says);
      for (const line of r.text.split("\n")) expect(line.length, name).to.be.below(600);
    }
  });

  const cases = Number(process.env.FUZZ_CASES ?? 3000);
  const seed = Number(process.env.FUZZ_SEED ?? 20261130);
  it(`${cases} seeded hostile documents (seed ${seed}; FUZZ_CASES and FUZZ_SEED change them)`, async () => {
    const r = prng(seed);
    const counts = { ok: 0, invalid: 0, unreadable: 0, crash: 0, slow: 0 };
    const bad: string[] = [];
    const times: { ms: number; i: number }[] = [];
    for (let i = 0; i < cases; i++) {
      const source = hostileDocument(r, ws.special);
      writeFileSync(ws.caseFile, source);
      const t0 = performance.now();
      const o = await outcome(ws.caseFile);
      const ms = performance.now() - t0;
      times.push({ ms, i });
      counts[o.kind]++;
      // eslint-disable-next-line no-control-regex -- a raw control character in a message is the defect looked for
      const unlocated = o.kind === "invalid" ? o.text.split("\n").filter((l) => !LOCATED.test(l) || l.length > 600 || /[\u0000-\u0008\u000b-\u001f]/.test(l)) : [];
      if (o.kind === "crash" || ms > CASE_BOUND_MS || unlocated.length > 0) {
        if (ms > CASE_BOUND_MS) counts.slow++;
        const keep = join(ROOT, "test-results", "fuzz");
        mkdirSync(keep, { recursive: true });
        writeFileSync(join(keep, `case-${seed}-${i}.yaml`), source);
        bad.push(`case ${i} (${ms.toFixed(0)} ms, kept in test-results/fuzz/case-${seed}-${i}.yaml): ${o.kind === "crash" ? o.text : unlocated[0] ?? "slow"}`.slice(0, 2000));
      }
    }
    process.stdout.write(`      fuzz: ${cases} documents — loaded ${counts.ok}, located errors ${counts.invalid}, unreadable ${counts.unreadable}, crashes ${counts.crash}, over ${CASE_BOUND_MS} ms ${counts.slow}; slowest ${times.sort((a, b) => b.ms - a.ms).slice(0, 3).map((t) => `#${t.i} ${t.ms.toFixed(0)} ms`).join(", ")}\n`);
    expect(bad.slice(0, 5)).to.deep.equal([]);
    // the generator must reach every outcome, or it tests less than it claims
    expect(counts.ok, "some mutants are still valid").to.be.above(0);
    expect(counts.invalid).to.be.above(cases / 4);
  });
});
