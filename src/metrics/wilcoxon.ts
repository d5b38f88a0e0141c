/**
 * The Wilcoxon signed-rank test as scipy.stats.wilcoxon (1.17) computes it with its defaults: two-sided, zeros dropped
 * (zero_method "wilcox"), no continuity correction, and method "auto", which picks
 *  - "exact" — the exact null distribution of the positive rank sum — when there are at most 50 pairs, no ties and no
 *    zero differences;
 *  - "permutation" — all 2ⁿ sign flips enumerated, so still exact — when there are ties or zeros and at most 13 pairs;
 *  - "asymptotic" — the normal approximation with the tie correction of the variance — otherwise.
 * The statistic is min(R+, R−); the result says which branch was taken. Checked against scipy's own output
 * (fixtures/stats/wilcoxon-scipy.json).
 */
import erfc from '@stdlib/math-base-special-erfc';
import { numpySum } from './numpy-sum.js';

export type WilcoxonMethod = 'exact' | 'permutation' | 'asymptotic';

export interface WilcoxonResult {
  readonly statistic: number;
  readonly pvalue: number;
  readonly method: WilcoxonMethod;
  /** Pairs with a non-zero difference (the ones ranked). */
  readonly nonzero: number;
  readonly zeros: number;
  readonly ties: boolean;
}

/** Average ranks (1-based) of values, ties sharing the mean of their positions. */
function averageRanks(values: readonly number[]): { ranks: number[]; tieGroups: number[] } {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(values.length);
  const tieGroups: number[] = [];
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]!] === values[order[start]!]) end += 1;
    const rank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) ranks[order[i]!] = rank;
    tieGroups.push(end - start);
    start = end;
  }
  return { ranks, tieGroups };
}

/** P(R+ = r) for r = 0 … n(n+1)/2 under the null, built as scipy builds it (halving and shifting, in float64). */
export function signedRankDistribution(n: number): Float64Array {
  let c = new Float64Array([1]);
  for (let k = 1; k <= n; k++) {
    const previous = c;
    c = new Float64Array((k * (k + 1)) / 2 + 1);
    const m = previous.length;
    for (let i = 0; i < m; i++) c[i] = previous[i]! * 0.5;
    for (let i = 0; i < m; i++) c[c.length - m + i] = c[c.length - m + i]! + previous[i]! * 0.5;
  }
  return c;
}

/** The exact two-sided p-value: 2·min(P(R+ ≥ ⌊r⌋), P(R+ ≤ ⌈r⌉)), each tail summed as numpy sums it. */
function exactPValue(rPlus: number, n: number): number {
  const pmf = signedRankDistribution(n);
  const mean = (n * (n + 1)) / 4;
  const lower = (k: number): number => numpySum(Array.from(pmf.subarray(0, k + 1)));
  const upper = (k: number): number => numpySum(Array.from(pmf.subarray(k)));
  const cdf = (k: number) => (k <= mean ? lower(k) : 1 - upper(k + 1));
  const sf = (k: number) => (k <= mean ? upper(k) : 1 - lower(k - 1));
  return Math.min(1, Math.max(0, 2 * Math.min(sf(Math.floor(rPlus)), cdf(Math.ceil(rPlus)))));
}

/**
 * Every sign flip of the differences (zeros included, as scipy's permutation test flips them): the two-sided p-value
 * with scipy's relative tolerance for equal statistics (100 ε) and no +1 adjustment, since the enumeration is exact.
 */
function permutationPValue(differences: readonly number[], ranks: readonly number[], observed: number): number {
  const n = differences.length;
  const gamma = Math.abs(100 * Number.EPSILON * observed);
  let below = 0;
  let above = 0;
  const total = 2 ** n;
  for (let mask = 0; mask < total; mask++) {
    let rPlus = 0;
    for (let i = 0; i < n; i++) {
      const value = (mask >> i) & 1 ? -differences[i]! : differences[i]!;
      if (value > 0) rPlus += ranks[i]!;
    }
    if (rPlus <= observed + gamma) below += 1;
    if (rPlus >= observed - gamma) above += 1;
  }
  return Math.min(1, Math.max(0, Math.min(below / total, above / total) * 2));
}

/** Paired samples `x` and `y` (or one sample of differences `x`). */
export function wilcoxon(x: readonly number[], y?: readonly number[]): WilcoxonResult {
  if (y !== undefined && y.length !== x.length) throw new Error('wilcoxon: x and y must have the same length');
  const differences = y === undefined ? [...x] : x.map((value, i) => value - y[i]!);
  const nonzeroDifferences = differences.filter((d) => d !== 0);
  const zeros = differences.length - nonzeroDifferences.length;
  const { ranks: nonzeroRanks, tieGroups } = averageRanks(nonzeroDifferences.map(Math.abs));
  // Ranks per original position; a zero is ranked nowhere (it never counts in R+ or R−).
  const ranks: number[] = [];
  let next = 0;
  for (const d of differences) ranks.push(d === 0 ? 0 : nonzeroRanks[next++]!);
  const rPlus = numpySum(differences.map((d, i) => (d > 0 ? ranks[i]! : 0)));
  const rMinus = numpySum(differences.map((d, i) => (d < 0 ? ranks[i]! : 0)));
  const count = nonzeroDifferences.length;
  const ties = tieGroups.some((size) => size > 1);
  const method: WilcoxonMethod =
    differences.length > 50
      ? 'asymptotic'
      : !ties && zeros === 0
        ? 'exact'
        : differences.length <= 13
          ? 'permutation'
          : 'asymptotic';
  const base = { statistic: Math.min(rPlus, rMinus), method, nonzero: count, zeros, ties };
  if (differences.length === 0) return { ...base, statistic: Number.NaN, pvalue: Number.NaN };
  if (method === 'exact') return { ...base, pvalue: exactPValue(rPlus, count) };
  if (method === 'permutation') return { ...base, pvalue: permutationPValue(differences, ranks, rPlus) };
  const mean = count * (count + 1) * 0.25;
  const tieCorrection = numpySum(tieGroups.map((t) => t ** 3 - t));
  const se = Math.sqrt((count * (count + 1) * (2 * count + 1) - tieCorrection / 2) / 24);
  const z = (rPlus - mean) / se;
  // 2·Φ(−|z|) = erfc(|z|/√2), with |z| scaled by 1/√2 as scipy's ndtr does.
  return { ...base, pvalue: erfc(Math.abs(z) * Math.SQRT1_2) };
}
