/**
 * The token lengths of a task's training rows as mceval encodes them for a model (its tokenizer, the task's template
 * and length limit), printed as JSON: what variable-lengths.ts trains on, in random tokens, on a GPU machine that has
 * no data. pack.sh writes SST-2's (from ../shared/data, where present) into the kit.
 *
 * Usage: node dist/bench/gpu/task-lengths.js --task sst2 --data DIR [--model builtin:medium] [--train-limit 3200]
 */
import { initEngine } from '../../src/engine/backends.js';
import { loadAnyModel } from '../../src/models/load.js';
import { limitTask, loadTask, RUNNERS } from '../../src/runners/index.js';
import { resolveTasks } from '../../src/tasks/registry.js';
import type { TaskKind } from '../../src/tasks/types.js';
import { argument } from '../options.js';

const [task] = resolveTasks([argument('task', 'sst2')]);
const modelSpec = argument('model', 'builtin:medium');
const trainLimit = Number(argument('train-limit', '3200'));

await initEngine('cpu');
const loaded = limitTask(await loadTask(task! as typeof task & { kind: TaskKind }, argument('data', '')), {
  trainLimit,
});
const { model, tokenizer } = loadAnyModel(modelSpec);
try {
  const runner = RUNNERS[loaded.kind];
  const examples = runner.encodeTraining(tokenizer, loaded.task as never, loaded.data as never, model);
  const lengths = examples.map((example) => example.ids.length);
  console.log(JSON.stringify({ task: task!.name, model: modelSpec, trainLimit, lengths }));
} finally {
  model.dispose();
}
