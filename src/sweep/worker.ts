/** A sweep worker thread: initialises its own tfjs backend, then trains the grid points it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { initEngine } from '../engine/backends.js';
import { UserError, errorMessage } from '../errors.js';
import { loadPreset } from '../peft/preset.js';
import { getTask } from '../tasks/registry.js';
import { runPlanEntry } from './run-sweep.js';
import { BaseModelCache } from '../models/base-model-cache.js';
import type { LoadedTask } from '../tasks/types.js';
import { loadTask } from '../runners/index.js';
import { limitTask } from '../runners/index.js';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-protocol.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const post = (message: FromWorker): void => port.postMessage(message);

await initEngine(setup.backend);
// Each worker thread reads a task's data once, for all the grid points it trains.
const loadedTasks = new Map<string, LoadedTask>();
// … and the base model once, for all of them (every grid point still starts from the same weights).
const baseModels = new BaseModelCache();

port.on('message', async (message: ToWorker) => {
  if (message.kind === 'stop') {
    baseModels.dispose();
    port.close();
    return;
  }
  const { job } = message;
  try {
    const task = getTask(job.taskName);
    if (!loadedTasks.has(task.name)) {
      const evaluationOnly = setup.limits.withoutTraining === true;
      loadedTasks.set(task.name, limitTask(await loadTask(task, setup.dataDir, { evaluationOnly }), setup.limits));
    }
    const entry = {
      task: loadedTasks.get(task.name)!,
      preset: { ...loadPreset(job.presetSource), training: job.training },
      point: job.point,
      epochs: job.epochs,
    };
    const result = await runPlanEntry(
      { entry, ...(job.adapterDir === undefined ? {} : { adapterDir: job.adapterDir }) },
      {
        modelSpec: setup.modelSpec,
        seed: setup.seed,
        ...(setup.gradientAccumulation === undefined ? {} : { gradientAccumulation: setup.gradientAccumulation }),
        backend: setup.backendId,
        logSamples: setup.logSamples,
        decoding: setup.decoding,
        ...(setup.evalBatchSize === undefined ? {} : { evalBatchSize: setup.evalBatchSize }),
        baseModels,
      },
      (progress) => post({ kind: 'step', index: job.index, progress }),
    );
    post({ kind: 'result', index: job.index, result });
  } catch (error) {
    post({ kind: 'failed', index: job.index, message: errorMessage(error), userError: error instanceof UserError });
  }
});
post({ kind: 'ready' });
