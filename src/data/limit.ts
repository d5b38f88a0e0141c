/**
 * --limit and --train-limit: the first N evaluation examples (as lm-eval's --limit) and the first N training
 * examples, for quick runs; --train-file replaces the training pairs of tasks fine-tuned on prompt → target. Applied
 * wherever a task's data is loaded (main thread and workers), so both agree.
 */
import type { ClassificationSplits, PromptTarget } from './examples.js';
import { readTrainingPairs } from './train-file.js';

export interface DataLimits {
  readonly evalLimit?: number;
  readonly trainLimit?: number;
  /** --train-file: replaces the training split of generation and multiple-choice tasks. */
  readonly trainFile?: string;
  /** No preset of the sweep trains (the baseline): the training split is neither read nor needed, and empty. */
  readonly withoutTraining?: boolean;
}

function firstRows<T>(rows: readonly T[], limit: number | undefined): readonly T[] {
  return limit === undefined ? rows : rows.slice(0, limit);
}

export function limitClassificationSplits(splits: ClassificationSplits, limits: DataLimits): ClassificationSplits {
  const train = limits.withoutTraining === true ? [] : firstRows(splits.train, limits.trainLimit);
  return { train, dev: firstRows(splits.dev, limits.evalLimit) };
}

/** Splits of the kinds fine-tuned on prompt → target pairs and evaluated on docs of their own. */
export interface PromptTargetSplits<Doc> {
  readonly train: readonly PromptTarget[];
  readonly eval: readonly Doc[];
}

export function limitPromptTargetSplits<Doc>(
  splits: PromptTargetSplits<Doc>,
  limits: DataLimits,
): PromptTargetSplits<Doc> {
  if (limits.withoutTraining === true) return { train: [], eval: firstRows(splits.eval, limits.evalLimit) };
  const train = limits.trainFile === undefined ? splits.train : readTrainingPairs(limits.trainFile);
  return { train: firstRows(train, limits.trainLimit), eval: firstRows(splits.eval, limits.evalLimit) };
}
