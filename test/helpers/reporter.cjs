// Mocha's spec reporter plus a closing "N passed, N failed, N skipped" line that CI systems read, and
// every test that failed once and was run again (test/helpers/setup.ts): what failed, and why, so a
// flaky test is seen even when its second run passes; then every test that failed, a line each, last, where
// a log's tail (all a CI page may show) still has them.
const { rmSync } = require("node:fs");
const Mocha = require("mocha");
const { EVENT_RUN_END, EVENT_TEST_RETRY, EVENT_TEST_PASS, EVENT_TEST_FAIL } = Mocha.Runner.constants;

/** A failure's reason in a line: a verdict test's failed checks (✗, ?) and chai's last line. */
function why(err) {
  const lines = String(err?.message ?? err).split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return [...lines.filter((l) => /^[✗?]/.test(l)).slice(0, 3), lines.at(-1) ?? ""].join(" | ");
}

/** This run's folder (test/helpers/setup.ts): removed after a run without failures, named after one with them. */
function keepOrRemove(dir, failures) {
  if (!dir) return;
  if (failures > 0 || process.env.FAULTLINE_KEEP_TEST_FILES === "1") {
    process.stdout.write(`the ${failures > 0 ? "failed " : ""}run's files (stack logs, reports) are kept in ${dir}\n`);
    return;
  }
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    process.stdout.write(`could not remove the run's folder ${dir}: ${err?.message ?? err}\n`);
  }
}

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const retried = [];
    const failed = [];
    runner.on(EVENT_TEST_RETRY, (test, err) => {
      const r = { title: test.fullTitle(), why: why(err), passed: false };
      retried.push(r);
      process.stdout.write(`      ↻ failed, run again once: ${test.title}\n        ${r.why.slice(0, 400)}\n`);
    });
    runner.on(EVENT_TEST_FAIL, (test, err) => failed.push({ title: test.fullTitle(), why: why(err) }));
    runner.on(EVENT_TEST_PASS, (test) => {
      const r = retried.find((x) => x.title === test.fullTitle());
      if (r !== undefined && test.currentRetry() > 0) r.passed = true;
    });
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      const second = retried.filter((r) => r.passed);
      if (second.length > 0) {
        process.stdout.write(`\n${second.length} passed only on a second run (flaky here; the first run's failure is above):\n`);
        for (const r of second) process.stdout.write(`  - ${r.title}\n      first run: ${r.why.slice(0, 300)}\n`);
      }
      if (failed.length > 0) {
        process.stdout.write(`\n${failed.length} failed:\n`);
        for (const f of failed) {
          process.stdout.write(`  ✗ ${f.title.slice(0, 160)} — ${f.why.slice(0, 300)}\n`);
          // its first run, when it failed otherwise: two different failures say more than one
          const first = retried.find((r) => r.title === f.title);
          if (first !== undefined && first.why !== f.why) process.stdout.write(`      first run: ${first.why.slice(0, 300)}\n`);
        }
      }
      process.stdout.write(`\n${s.passes} passed${second.length ? ` (${second.length} on a second run)` : ""}, ${s.failures} failed, ${s.pending} skipped\n`);
      keepOrRemove(process.env.FAULTLINE_TEST_RUN_DIR, s.failures);
    });
  }
}
module.exports = SpecWithSummary;
