import type { ProbeAbort, ProbeAssertion } from "../schema/experiment.ts";
import type { AssertionResult, ProbeSample } from "../schema/run-record.ts";
import type { z } from "zod";

type Window = { start: number; end: number };

export function inWindow(samples: readonly ProbeSample[], w: Window): ProbeSample[] {
  return samples.filter((s) => s.t >= w.start && s.t < w.end);
}

const failedEvidence = (samples: readonly ProbeSample[]): ProbeSample[] => samples.filter((s) => !s.ok).slice(0, 20);

export interface SteadyStateResult {
  holds: boolean;
  messages: string[];
  evidence: ProbeSample[];
  measured: number | null;
}

/** Steady state holds when every probe answered, within `maxFailureRate`, over the window. */
export function judgeSteadyState(
  probes: Record<string, readonly ProbeSample[]>,
  w: Window,
  maxFailureRate: number,
): SteadyStateResult {
  const messages: string[] = [];
  const evidence: ProbeSample[] = [];
  let worst: number | null = null;
  let holds = true;
  for (const [name, all] of Object.entries(probes)) {
    const s = inWindow(all, w);
    if (s.length === 0) {
      holds = false;
      messages.push(`probe ${name}: no samples in the window (missing data is not a pass)`);
      continue;
    }
    const failed = s.filter((x) => !x.ok);
    const rate = failed.length / s.length;
    worst = Math.max(worst ?? 0, rate);
    if (rate > maxFailureRate) {
      holds = false;
      messages.push(
        `probe ${name}: ${failed.length}/${s.length} calls failed (${(rate * 100).toFixed(1)}% > ${(maxFailureRate * 100).toFixed(1)}%), first: ${failed[0]?.error}`,
      );
      evidence.push(...failedEvidence(s));
    }
  }
  return { holds, messages, evidence, measured: worst };
}

export function judgeProbeAssertion(
  a: z.infer<typeof ProbeAssertion>,
  samples: readonly ProbeSample[] | undefined,
  w: Window,
): AssertionResult {
  const base = { name: a.name, kind: a.kind, window: w };
  const s = inWindow(samples ?? [], w);
  if (s.length === 0) {
    return { ...base, verdict: "fail", measured: null, limit: null, message: `probe ${a.probe} has no samples during ${a.during}: nothing to judge`, evidence: [] };
  }
  const ok = s.filter((x) => x.ok);
  const rate = ok.length / s.length;
  if (a.minSuccessRate !== undefined && rate < a.minSuccessRate) {
    return {
      ...base,
      verdict: "fail",
      measured: rate,
      limit: a.minSuccessRate,
      unit: "ratio",
      message: `probe ${a.probe} succeeded ${ok.length}/${s.length} (${(rate * 100).toFixed(2)}%) during ${a.during}, below ${(a.minSuccessRate * 100).toFixed(2)}%`,
      evidence: failedEvidence(s),
    };
  }
  if (a.maxLatency !== undefined) {
    const slow = ok.filter((x) => x.ms > (a.maxLatency as number));
    const maxMs = Math.max(0, ...ok.map((x) => x.ms));
    if (slow.length > 0) {
      return {
        ...base,
        verdict: "fail",
        measured: maxMs,
        limit: a.maxLatency,
        unit: "ms",
        message: `probe ${a.probe}: ${slow.length} successful calls took longer than ${a.maxLatency}ms (slowest ${Math.round(maxMs)}ms)`,
        evidence: slow.slice(0, 20),
      };
    }
    return { ...base, verdict: "pass", measured: maxMs, limit: a.maxLatency, unit: "ms", message: `slowest call ${Math.round(maxMs)}ms`, evidence: [] };
  }
  return {
    ...base,
    verdict: "pass",
    measured: rate,
    limit: a.minSuccessRate ?? null,
    unit: "ratio",
    message: `probe ${a.probe} succeeded ${ok.length}/${s.length} during ${a.during}`,
    evidence: [],
  };
}

/** True when the probe's failure rate stayed above the limit for the whole trailing window. */
export function abortTriggered(c: z.infer<typeof ProbeAbort>, samples: readonly ProbeSample[], now: number): string | undefined {
  const first = samples[0];
  if (first === undefined || now - first.t < c.for) return undefined;
  const s = inWindow(samples, { start: now - c.for, end: now + 1 });
  if (s.length === 0) return undefined;
  const rate = s.filter((x) => !x.ok).length / s.length;
  return rate > c.failureRateAbove
    ? `probe ${c.probe} failure rate ${(rate * 100).toFixed(1)}% > ${(c.failureRateAbove * 100).toFixed(1)}% for ${c.for}ms`
    : undefined;
}
