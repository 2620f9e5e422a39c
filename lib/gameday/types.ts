import type { GameDay, GameDayStep } from "../schema/gameday.ts";
import type { RunRecord } from "../schema/run-record.ts";

/** What a game day leaves: each step's outcome, its notes and the alerts it saw. */
export type StepOutcome = "pass" | "fail" | "inconclusive" | "aborted" | "error" | "declined" | "skipped";

export interface StepResult {
  index: number;
  step: GameDayStep;
  outcome: StepOutcome;
  runDir?: string;
  record?: RunRecord;
  notes: { t: number; text: string }[];
  alertsFired: string[];
  reason?: string;
}

export interface GameDayResult {
  plan: GameDay;
  file: string;
  dir: string;
  startedAt: number;
  endedAt: number;
  steps: StepResult[];
  halted?: number;
}
