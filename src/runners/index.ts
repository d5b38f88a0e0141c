/** The runner of each task kind, keyed by kind: a new kind adds its runner file and one line here. */
import type { DataLimits } from '../data/limit.js';
import type { PromptTarget } from '../data/examples.js';
import { loadTaskData } from '../data/load-task-data.js';
import { UserError } from '../errors.js';
import type { DataOf, LoadedTask, TaskKind, TaskOf } from '../tasks/types.js';
import { classificationRunner } from './classification.js';
import { generationRunner } from './generation.js';
import { multipleChoiceRunner } from './multiple-choice.js';
import type { TaskRunner } from './types.js';

export const RUNNERS: { readonly [K in TaskKind]: TaskRunner<K> } = {
  classification: classificationRunner,
  generation: generationRunner,
  'multiple-choice': multipleChoiceRunner,
};

/** The loaded task cut to --limit / --train-limit, its training pairs replaced by --train-file. */
export function limitTask<K extends TaskKind>(loaded: LoadedTask<K>, limits: DataLimits): LoadedTask<K> {
  return { kind: loaded.kind, task: loaded.task, data: RUNNERS[loaded.kind].limit(loaded.data, limits) };
}

/** The prompt → target pairs the task fine-tunes on (pooled by --train-mixture); undefined for classification. */
export function promptTargetsOf<K extends TaskKind>(loaded: LoadedTask<K>): readonly PromptTarget[] | undefined {
  return RUNNERS[loaded.kind].promptTargets(loaded.data);
}

/**
 * A task with its data, typed together. `evaluationOnly` (scoring) reads only the evaluation split, so the
 * training files need not be there.
 */
export async function loadTask<K extends TaskKind>(
  task: TaskOf<K> & { readonly kind: K },
  dataDir: string | undefined,
  options: { readonly evaluationOnly?: boolean } = {},
): Promise<LoadedTask<K>> {
  const evaluationSize = (splits: DataOf<K>) => RUNNERS[task.kind].evaluationSize(splits);
  const data = await loadTaskData<DataOf<K>>(
    task,
    dataDir,
    options.evaluationOnly === true ? evaluationSize : undefined,
  );
  // Rows can all be filtered out (no valid label, no answer): an empty split is never scored as a result.
  const sizes = {
    ...(options.evaluationOnly === true ? {} : { training: data.train.length }),
    evaluation: evaluationSize(data),
  };
  const empty = Object.entries(sizes).find(([, size]) => size === 0);
  if (empty !== undefined) {
    const files = task.dataFiles?.join(', ') ?? 'its files';
    throw new UserError(
      `Task ${task.name}: the ${empty[0]} split has no examples (read from ${files} under ${dataDir ?? 'the built-in data'}).`,
    );
  }
  return { kind: task.kind, task, data };
}
