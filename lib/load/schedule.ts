import type { ResolvedLoad } from "./types.ts";

/** Requests due by `elapsed` ms: the integral of the rate (trapezoids over 1 ms steps for ramps). */
export function dueBy(load: ResolvedLoad, elapsed: number): number {
  if (!load.stages || load.stages.length === 0) return (load.rate * elapsed) / 1000;
  let n = 0;
  let t = 0;
  let from = load.rate;
  for (const s of load.stages) {
    const d = Math.min(s.duration, Math.max(0, elapsed - t));
    const rEnd = from + ((s.target - from) * d) / s.duration;
    n += ((from + rEnd) / 2) * (d / 1000);
    if (elapsed <= t + s.duration) return n;
    t += s.duration;
    from = s.target;
  }
  return n + (from * (elapsed - t)) / 1000;
}

/**
 * When request `k` (0-based) is due, in ms from the start: the inverse of `dueBy`. Within a ramp
 * from r0 to r1 over D seconds the count is r0·τ + (r1 − r0)·τ²/(2D); its root gives τ.
 */
export function dueAt(load: ResolvedLoad, k: number): number {
  if (!load.stages || load.stages.length === 0) return (k / load.rate) * 1000;
  let n = 0;
  let t = 0;
  let from = load.rate;
  for (const s of load.stages) {
    const d = s.duration / 1000;
    const inStage = ((from + s.target) / 2) * d;
    if (k < n + inStage) {
      const want = k - n;
      const a = (s.target - from) / (2 * d);
      const tau = Math.abs(a) < 1e-12 ? want / from : (-from + Math.sqrt(Math.max(0, from * from + 4 * a * want))) / (2 * a);
      return t + tau * 1000;
    }
    n += inStage;
    t += s.duration;
    from = s.target;
  }
  return t + ((k - n) / from) * 1000;
}
