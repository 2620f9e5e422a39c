/** Something watched during a run. A failing observer records its failure and never ends the run. */
export interface Observer {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type EventSink = (type: string, message: string, data?: Record<string, unknown>) => void;

/** Polls `fn` every `everyMs` until stopped; reports the first failure of each streak once. */
export function poller(name: string, everyMs: number, fn: () => Promise<void>, event: EventSink): Observer {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;
  let running: Promise<void> = Promise.resolve();
  const tick = (): void => {
    running = fn()
      .then(() => {
        if (failing) event("observer.recovered", `${name} answers again`, { observer: name });
        failing = false;
      })
      .catch((err: unknown) => {
        if (!failing) event("observer.error", `${name}: ${err instanceof Error ? err.message : String(err)}`, { observer: name });
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, everyMs);
      });
  };
  return {
    name,
    start: async () => tick(),
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
