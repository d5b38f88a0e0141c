/**
 * Robustness across a hyperparameter grid, as the MonteCLoRA paper reports it: the best, median and worst score
 * over the grid, the spread (max − min), extrinsic robustness (the median accuracy) and intrinsic robustness
 * (1 / median NLL). A diverged run stays in the statistics with the scores it really got; a non-finite NLL counts
 * as +∞ (the worst possible).
 */

/** Median of a non-empty list; the mean of the two middle values for an even count. NaN counts as +∞. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = values.map((v) => (Number.isNaN(v) ? Infinity : v)).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface RobustnessStats {
  readonly runs: number;
  readonly best: number;
  readonly median: number;
  readonly worst: number;
  readonly spread: number;
  readonly medianNll: number;
  readonly extrinsic: number;
  readonly intrinsic: number;
}

export function robustness(accuracies: readonly number[], nlls: readonly number[]): RobustnessStats {
  const best = Math.max(...accuracies);
  const worst = Math.min(...accuracies);
  const medianAccuracy = median(accuracies);
  const medianNll = median(nlls);
  return {
    runs: accuracies.length,
    best,
    median: medianAccuracy,
    worst,
    spread: best - worst,
    medianNll,
    extrinsic: medianAccuracy,
    intrinsic: medianNll > 0 ? 1 / medianNll : Number.NaN,
  };
}
