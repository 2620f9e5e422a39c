import type { Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { HttpProbe } from "../schema/experiment.ts";
import type { ProbeSample } from "../schema/run-record.ts";

/**
 * Calls each probe on its own schedule until stopped, recording every outcome. A probe that fails
 * is data, not an error: the judge decides what it means.
 */
export class ProbeRunner {
  readonly samples: Record<string, ProbeSample[]> = {};
  private readonly stop = new AbortController();
  private readonly loops: Promise<void>[] = [];

  private readonly probes: readonly { probe: HttpProbe; url: string }[];
  private readonly clock: Clock;

  /** `urls` must hold a resolved URL for every probe, so an unknown endpoint fails at planning. */
  constructor(probes: readonly HttpProbe[], urls: ReadonlyMap<string, string>, clock: Clock) {
    this.probes = probes.map((probe) => ({ probe, url: urls.get(probe.name) as string }));
    this.clock = clock;
    for (const p of probes) this.samples[p.name] = [];
  }

  start(): void {
    for (const { probe, url } of this.probes) this.loops.push(this.loop(probe, url));
  }

  private async loop(p: HttpProbe, url: string): Promise<void> {
    const out = this.samples[p.name] as ProbeSample[];
    while (!this.stop.signal.aborted) {
      const started = this.clock.now();
      out.push(await probeOnce(p, url, this.clock));
      const wait = p.every - (this.clock.now() - started);
      try {
        if (wait > 0) await this.clock.sleep(wait, this.stop.signal);
      } catch {
        return;
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.loops);
  }
}

export async function probeOnce(p: HttpProbe, url: string, clock: Clock): Promise<ProbeSample> {
  const t = clock.now();
  try {
    const res = await fetch(url, {
      method: p.method,
      body: p.body,
      signal: AbortSignal.timeout(p.timeout),
      headers: { "user-agent": "faultline-probe" },
    });
    await res.arrayBuffer();
    const ms = clock.now() - t;
    const ok = p.expectStatus.includes(res.status);
    return ok ? { t, ok, ms, status: res.status } : { t, ok, ms, status: res.status, error: `status ${res.status}` };
  } catch (err) {
    const ms = clock.now() - t;
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return { t, ok: false, ms, error: timedOut ? `no answer within ${p.timeout}ms` : errorMessage(err) };
  }
}
