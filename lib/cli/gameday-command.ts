import { createInterface } from "node:readline";
import type { Command } from "commander";
import { ExitCode } from "../errors.ts";
import { runGameDay } from "../gameday/run.ts";
import type { OperatorIO } from "../gameday/run.ts";
import { loadOne } from "../loader/documents.ts";
import { ConsoleReporter } from "./console-reporter.ts";
import { positiveNumber } from "./options.ts";
import { interruptible } from "./signals.ts";

/**
 * The operator's terminal: answers to questions go to the question, every other typed line
 * becomes a note in the running step's timeline. Without a terminal nobody can answer.
 */
function terminalIO(): { io: OperatorIO; close(): void } {
  const interactive = process.stdin.isTTY === true;
  const rl = interactive ? createInterface({ input: process.stdin, output: process.stdout, terminal: false }) : undefined;
  let answer: ((line: string) => void) | undefined;
  const noteListeners = new Set<(line: string) => void>();
  rl?.on("line", (line) => {
    if (answer) {
      const a = answer;
      answer = undefined;
      a(line);
    } else for (const fn of noteListeners) fn(line);
  });
  const io: OperatorIO = {
    interactive,
    print: (text) => void process.stdout.write(`${text}\n`),
    ask: (question) =>
      new Promise<string>((resolve) => {
        process.stdout.write(question);
        if (rl === undefined) resolve("");
        else answer = resolve;
      }),
    onNote: (fn) => {
      noteListeners.add(fn);
      return () => noteListeners.delete(fn);
    },
  };
  return { io, close: () => rl?.close() };
}

export function addGameDayCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("gameday")
    .description("run a game day plan: each step shows what it will hit and asks before injecting; typed lines become notes; one report for the whole day")
    .argument("<plan>", "a GameDay file")
    .option("-y, --yes", "inject every step without asking (needed without a terminal: cron, CI)")
    .option("-t, --target <target>", "overrides the plan's target")
    .option("-o, --out <dir>", "where the game day's folder goes", "reports")
    .option("--time-scale <factor>", "multiply every phase and fault time (rehearsals)", positiveNumber, 1)
    .option("--rate-scale <factor>", "multiply the load's request rate", positiveNumber, 1)
    .action(async (file: string, flags: { yes?: boolean; target?: string; out: string; timeScale: number; rateScale: number }) => {
      const plan = await loadOne(file, "GameDay");
      const { io, close } = terminalIO();
      const { signal, dispose } = interruptible();
      try {
        const result = await runGameDay(file, plan, io, {
          yes: flags.yes === true,
          out: flags.out,
          timeScale: flags.timeScale,
          rateScale: flags.rateScale,
          reporters: [new ConsoleReporter()],
          signal,
          ...(flags.target ? { target: flags.target } : {}),
        });
        const bad = result.steps.some((s) => s.outcome === "fail" || s.outcome === "error" || s.outcome === "aborted" || s.outcome === "inconclusive") || result.halted !== undefined;
        setExit(bad ? ExitCode.fail : ExitCode.pass);
      } finally {
        dispose();
        close();
      }
    });
}
