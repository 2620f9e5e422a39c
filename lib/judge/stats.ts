import { cumulativeStdNormalProbability, median, quantileSorted, sampleWithReplacement, wilcoxonRankSum } from "simple-statistics";

/** A small seeded generator (mulberry32): a report's intervals come out the same every time it is written. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Spread {
  n: number;
  median: number;
  /** bootstrap 95 % interval of the median; with one value, that value twice */
  ci: [number, number];
  min: number;
  max: number;
}

/** The median of `xs` and a percentile-bootstrap 95 % interval for it (2,000 resamples, seeded). */
export function spread(xs: readonly number[], resamples = 2000, seed = 1): Spread {
  if (xs.length === 0) throw new Error("spread of no values");
  const values = [...xs];
  const m = median(values);
  const random = seeded(seed);
  const medians = Array.from({ length: values.length > 1 ? resamples : 1 }, () => median(sampleWithReplacement(values, values.length, random))).sort((a, b) => a - b);
  return { n: values.length, median: m, ci: [quantileSorted(medians, 0.025), quantileSorted(medians, 0.975)], min: Math.min(...values), max: Math.max(...values) };
}

/** Ways to choose k of n: the exact test enumerates assignments while there are at most this many. */
const EXACT_UP_TO = 200_000;

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

/**
 * Mann–Whitney U, one-sided: the chance of a rank sum for `later` at least this large if both
 * samples came from one distribution. Exact (every assignment of the pooled values, ties included)
 * while that is at most 200,000 assignments (e.g. 10 and 10 runs); else the normal approximation
 * with tie and continuity corrections.
 */
export function mannWhitneyGreater(earlier: readonly number[], later: readonly number[]): { u: number; p: number; exact: boolean } {
  const n1 = later.length;
  const n2 = earlier.length;
  if (n1 === 0 || n2 === 0) throw new Error("Mann–Whitney of an empty sample");
  const rankSum = wilcoxonRankSum([...later], [...earlier]);
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const pooled = [...later, ...earlier].sort((a, b) => a - b);
  const ranks = midRanks(pooled);
  if (choose(n1 + n2, n1) <= EXACT_UP_TO) {
    let atLeast = 0;
    let total = 0;
    const walk = (from: number, left: number, sum: number): void => {
      if (left === 0) {
        total++;
        if (sum >= rankSum - 1e-9) atLeast++;
        return;
      }
      for (let i = from; i <= ranks.length - left; i++) walk(i + 1, left - 1, sum + (ranks[i] as number));
    };
    walk(0, n1, 0);
    return { u, p: atLeast / total, exact: true };
  }
  const n = n1 + n2;
  const ties = tieGroups(pooled).reduce((s, t) => s + (t ** 3 - t), 0);
  const sd = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (sd === 0) return { u, p: 1, exact: false };
  const z = (u - (n1 * n2) / 2 - 0.5) / sd;
  return { u, p: 1 - cumulativeStdNormalProbability(z), exact: false };
}

/** The sizes of runs of equal values in a sorted list. */
function tieGroups(sorted: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[i]) j++;
    out.push(j - i + 1);
    i = j + 1;
  }
  return out;
}

/** 1-based ranks of a sorted list, equal values sharing the mean of their ranks. */
function midRanks(sorted: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  for (const size of tieGroups(sorted)) {
    const rank = i + (size + 1) / 2;
    for (let k = 0; k < size; k++) out.push(rank);
    i += size;
  }
  return out;
}
