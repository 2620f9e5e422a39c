import { formatDuration } from "../schema/duration.ts";
import type { RunReporter } from "../engine/reporter.ts";
import type { CheckVerdict, RunRecord, TimelineEvent } from "../schema/run-record.ts";

/**
 * On a terminal: event lines plus one status line (phase, elapsed, active faults) redrawn in
 * place. Without one (CI, pipes): plain lines only.
 */
export class ConsoleReporter implements RunReporter {
  private readonly out: NodeJS.WriteStream;
  private readonly live: boolean;
  private start = 0;
  private phase = "starting";
  private phaseStart = 0;
  private phaseMs = 0;
  private active: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private name = "";

  constructor(out: NodeJS.WriteStream = process.stderr, live = out.isTTY === true && process.env.CI === undefined) {
    this.out = out;
    this.live = live;
  }

  onStart(record: RunRecord): void {
    this.start = record.startedAt;
    this.name = record.experiment.name;
    this.line(`▶ ${record.experiment.name} (run ${record.runId})`);
    if (this.live) this.timer = setInterval(() => this.drawStatus(), 250).unref();
  }

  onPhase(phase: string, plannedMs: number): void {
    this.phase = phase;
    this.phaseStart = Date.now();
    this.phaseMs = plannedMs;
  }

  onEvent(e: TimelineEvent): void {
    this.line(`  [${formatDuration(e.t - this.start).padStart(7)}] ${e.type.padEnd(20)} ${e.message}`);
  }

  onActiveFaults(faults: string[]): void {
    this.active = faults;
  }

  onEnd(record: RunRecord): void {
    if (this.timer) clearInterval(this.timer);
    this.clearStatus();
    const took = formatDuration((record.endedAt ?? Date.now()) - record.startedAt);
    this.out.write(`${verdictMark(record.verdict)} ${record.experiment.name}: ${record.verdict?.toUpperCase()} in ${took}${record.reason ? ` — ${record.reason}` : ""}\n`);
    for (const a of record.assertions) this.out.write(`    ${checkMark(a.verdict)} ${a.name}: ${a.message}\n${a.crossCheck ? `      ${a.crossCheck.message}\n` : ""}`);
  }

  private line(text: string): void {
    this.clearStatus();
    this.out.write(`${text}\n`);
    this.drawStatus();
  }

  private clearStatus(): void {
    if (this.live) this.out.write("\r\x1b[2K");
  }

  private drawStatus(): void {
    if (!this.live || this.start === 0) return;
    const inPhase = formatDuration(Date.now() - this.phaseStart);
    const faults = this.active.length ? `active: ${this.active.join(", ")}` : "no active fault";
    this.out.write(`\r\x1b[2K  ${this.name} · ${this.phase} ${inPhase}/${formatDuration(this.phaseMs)} · ${faults}`);
  }
}

export function verdictMark(v: string | undefined): string {
  return v === "pass" ? "✔" : v === "fail" ? "✘" : v === "inconclusive" ? "?" : v === "aborted" ? "⊘" : "!";
}

/** One check's mark in a list of them. */
export function checkMark(v: CheckVerdict): string {
  return v === "pass" ? "✓" : v === "inconclusive" ? "?" : "✗";
}
