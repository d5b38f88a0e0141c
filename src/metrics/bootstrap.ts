/**
 * A percentile bootstrap confidence interval of the median of paired differences: `resamples` draws with replacement
 * from a seeded generator (the same seed gives the same interval), the interval's ends the (1 ± level)/2 quantiles of
 * the resampled medians (numpy's linear quantile).
 */
import { Rng } from '../engine/rng.js';
import { median, quantile } from './quantile.js';

export interface BootstrapInterval {
  readonly low: number;
  readonly high: number;
  readonly level: number;
  readonly resamples: number;
  readonly seed: number;
}

export function bootstrapMedianInterval(
  differences: readonly number[],
  options: { readonly seed: number; readonly resamples?: number; readonly level?: number },
): BootstrapInterval {
  const resamples = options.resamples ?? 10_000;
  const level = options.level ?? 0.95;
  if (differences.length === 0) {
    return { low: Number.NaN, high: Number.NaN, level, resamples, seed: options.seed };
  }
  const rng = new Rng(options.seed);
  const medians = new Array<number>(resamples);
  const draw = new Array<number>(differences.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < differences.length; i++) draw[i] = differences[rng.integer(differences.length)]!;
    medians[r] = median(draw);
  }
  const alpha = (1 - level) / 2;
  return {
    low: quantile(medians, alpha),
    high: quantile(medians, 1 - alpha),
    level,
    resamples,
    seed: options.seed,
  };
}
