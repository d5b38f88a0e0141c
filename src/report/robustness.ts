/**
 * Robustness across a hyperparameter grid, as the MonteCLoRA paper reports it: the best, median and worst score
 * over the grid, the spread (max − min), extrinsic robustness (the median accuracy) and intrinsic robustness
 * (1 / median NLL). A diverged run stays in the statistics with the scores it really got; a non-finite NLL counts
 * as +∞ (the worst possible).
 */
import { median } from '../metrics/quantile.js';

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
