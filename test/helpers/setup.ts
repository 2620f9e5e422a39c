// Loaded before every test file: pinned tools first on PATH, as the Makefile has them.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
process.env.PATH = `${root}tools/bin:${root}tools/node/bin:${process.env.PATH ?? ""}`;

/**
 * One folder, made here, for everything this run of the suite writes (fixtures' tempDir): the reporter
 * removes it when nothing failed, and names it when something did (or when FAULTLINE_KEEP_TEST_FILES=1),
 * so a failure's stack logs and reports are there to read and a clean run leaves nothing behind (CI
 * runs on a machine it shares with the next). Always a new folder, so that nothing else is removed.
 */
process.env.FAULTLINE_TEST_RUN_DIR = mkdtempSync(join(tmpdir(), "faultline-test-"));

/**
 * A test that drives the real stack at its rate on a shared two-core host is run a second time
 * when it fails (once): one overload spiral of the reference stack, or a neighbour that took the
 * cores, must not fail the build, but a failure that comes twice does. The reporter prints every
 * such first failure and counts them in its closing line, so a flaky test stays in sight. Unit
 * tests are never repeated; a test that sets `this.retries(0)` opts out.
 */
export const mochaHooks = {
  beforeEach(this: Mocha.Context): void {
    const t = this.currentTest;
    if (t !== undefined && t.retries() < 0 && /[/\\]test[/\\](integration|e2e)[/\\]/.test(t.file ?? "")) t.retries(1);
  },
};
