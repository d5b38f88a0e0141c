/** The runner of each task kind, keyed by kind: a new kind adds its runner file and one line here. */
import type { DataLimits } from '../data/limit.js';
import type { PromptTarget } from '../data/examples.js';
import { loadTaskData } from '../data/load-task-data.js';
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

/** A task with its data, typed together. */
export async function loadTask<K extends TaskKind>(
  task: TaskOf<K> & { readonly kind: K },
  dataDir: string | undefined,
): Promise<LoadedTask<K>> {
  return { kind: task.kind, task, data: await loadTaskData<DataOf<K>>(task, dataDir) };
}
