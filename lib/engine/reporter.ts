import type { RunRecord, TimelineEvent } from "../schema/run-record.ts";

/** Optional hooks; a reporter that throws is reported once and ignored, never ends the run. */
export interface RunReporter {
  onStart?(record: RunRecord): void;
  onPhase?(phase: string, plannedMs: number): void;
  onEvent?(event: TimelineEvent): void;
  onActiveFaults?(faults: string[]): void;
  onEnd?(record: RunRecord): void;
}

export function multiplex(reporters: readonly RunReporter[], onError: (err: unknown) => void): Required<RunReporter> {
  const call =
    <K extends keyof RunReporter>(hook: K) =>
    (...args: Parameters<Required<RunReporter>[K]>): void => {
      for (const r of reporters) {
        try {
          (r[hook] as ((...a: unknown[]) => void) | undefined)?.(...args);
        } catch (err) {
          onError(err);
        }
      }
    };
  return {
    onStart: call("onStart"),
    onPhase: call("onPhase"),
    onEvent: call("onEvent"),
    onActiveFaults: call("onActiveFaults"),
    onEnd: call("onEnd"),
  };
}
