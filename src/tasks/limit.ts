/**
 * --limit and --train-limit: the first N evaluation examples (as lm-eval's --limit) and the first N training
 * examples, for quick runs; --train-file replaces a generation task's training pairs. Applied wherever a task's
 * data is loaded (main thread and workers), so both agree.
 */
import type { ClassificationSplits, GenerationSplits, TaskData } from './types.js';
import { readTrainingPairs } from './train-file.js';

export interface DataLimits {
  readonly evalLimit?: number;
  readonly trainLimit?: number;
  /** --train-file: replaces the training split of generation and multiple-choice tasks. */
  readonly trainFile?: string;
}

export function limitData(data: TaskData, limits: DataLimits): TaskData {
  const cut = <T>(rows: readonly T[], limit: number | undefined) => (limit === undefined ? rows : rows.slice(0, limit));
  if ('dev' in data) {
    const splits = data as ClassificationSplits;
    return { train: cut(splits.train, limits.trainLimit), dev: cut(splits.dev, limits.evalLimit) };
  }
  const splits = data as GenerationSplits;
  const train = limits.trainFile === undefined ? splits.train : readTrainingPairs(limits.trainFile);
  return { train: cut(train, limits.trainLimit), eval: cut(splits.eval, limits.evalLimit) };
}
