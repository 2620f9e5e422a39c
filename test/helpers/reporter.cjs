// Mocha's spec reporter plus a closing "N passed, N failed, N skipped" line that CI systems read, and
// every test that failed once and was run again (test/helpers/setup.ts): what failed, and why, so a
// flaky test is seen even when its second run passes.
const Mocha = require("mocha");
const { EVENT_RUN_END, EVENT_TEST_RETRY, EVENT_TEST_PASS } = Mocha.Runner.constants;

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const retried = [];
    runner.on(EVENT_TEST_RETRY, (test, err) => {
      // a verdict test's message is the run's output then chai's line: its failed checks (✗) and that line say why
      const lines = String(err?.message ?? err).split("\n").map((l) => l.trim()).filter((l) => l !== "");
      const why = [...lines.filter((l) => /^[✗?]/.test(l)).slice(0, 3), lines.at(-1) ?? ""].join(" | ");
      retried.push({ title: test.fullTitle(), why, passed: false });
      process.stdout.write(`      ↻ failed, run again once: ${test.title}\n        ${why.slice(0, 400)}\n`);
    });
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
      process.stdout.write(`\n${s.passes} passed${second.length ? ` (${second.length} on a second run)` : ""}, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = SpecWithSummary;
