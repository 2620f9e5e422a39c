/** Time is injected so timing logic is testable without waiting. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

export interface RetryOptions {
  timeoutMs: number;
  intervalMs?: number;
  clock?: Clock;
  signal?: AbortSignal;
}

/**
 * Polls `fn` until `predicate` holds or the deadline passes, then calls `onTimeout` to build the
 * error. Errors thrown by `fn` count as "not yet" and the last one becomes the error's cause.
 */
export async function retryUntil<T>(
  fn: () => Promise<T>,
  predicate: (value: T) => boolean,
  onTimeout: (last: { value?: T; error?: unknown; elapsedMs: number }) => Error,
  { timeoutMs, intervalMs = 100, clock = systemClock, signal }: RetryOptions,
): Promise<T> {
  const start = clock.now();
  let last: { value?: T; error?: unknown } = {};
  for (;;) {
    try {
      const value = await fn();
      if (predicate(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const elapsedMs = clock.now() - start;
    if (elapsedMs >= timeoutMs) throw onTimeout({ ...last, elapsedMs });
    await clock.sleep(Math.min(intervalMs, timeoutMs - elapsedMs), signal);
  }
}
