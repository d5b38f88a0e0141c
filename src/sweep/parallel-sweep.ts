/**
 * Runs a sweep's grid points on several worker threads at once. tfjs-wasm computes on one thread per process, so on
 * a machine with N cores N workers finish a grid up to N× sooner. Each grid point is seeded on its own, so results
 * are identical to a sequential run's, and they are returned in the jobs' order. Each worker reads the base model
 * once for all the grid points it trains.
 */
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.js';
import type { RunResult } from '../report/results.js';
import type { BackendRequest } from '../engine/backends.js';
import { allJobs, type SweepEvent, type SweepJob, type SweepOptions } from './run-sweep.js';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-protocol.js';

export async function runSweepInWorkers(
  options: SweepOptions,
  backend: BackendRequest,
  threads: number,
  onEvent: (event: SweepEvent) => void = () => {},
  plan: readonly SweepJob[] = allJobs(options),
): Promise<RunResult[]> {
  const results: RunResult[] = new Array(plan.length);
  const setup: WorkerSetup = {
    backend,
    backendId: options.backend,
    modelSpec: options.modelSpec,
    seed: options.seed,
    gradientAccumulation: options.gradientAccumulation,
    dataDir: options.dataDir,
    limits: options.limits ?? {},
    logSamples: options.logSamples === true,
    decoding: options.decoding,
    evalBatchSize: options.evalBatchSize,
  };
  let next = 0;
  let failure: Error | undefined;
  const workers: Worker[] = [];
  // The first failure stops every worker, so a failed sweep neither hangs nor keeps computing.
  const fail = (error: Error): void => {
    failure ??= error;
    workers.forEach((worker) => void worker.terminate());
  };

  const runWorker = () =>
    new Promise<void>((resolve) => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
      workers.push(worker);
      const send = (message: ToWorker) => worker.postMessage(message);
      const dispatch = () => {
        if (next >= plan.length || failure !== undefined) {
          send({ kind: 'stop' });
          return;
        }
        const index = next++;
        const { entry, adapterDir } = plan[index]!;
        onEvent({ kind: 'run-start', index, total: plan.length, entry });
        send({
          kind: 'job',
          job: {
            index,
            taskName: entry.task.task.name,
            presetSource: entry.preset.source,
            training: entry.preset.training,
            point: entry.point,
            epochs: entry.epochs,
            ...(adapterDir === undefined ? {} : { adapterDir }),
          },
        });
      };
      worker.on('message', (message: FromWorker) => {
        if (message.kind === 'ready') return dispatch();
        if (message.kind === 'step') {
          return onEvent({
            kind: 'step',
            index: message.index,
            total: plan.length,
            entry: plan[message.index]!.entry,
            progress: message.progress,
          });
        }
        if (message.kind === 'result') {
          results[message.index] = message.result;
          const job = plan[message.index]!;
          onEvent({ kind: 'run-end', index: message.index, total: plan.length, job, result: message.result });
          return dispatch();
        }
        fail(message.userError ? new UserError(message.message) : new Error(message.message));
      });
      worker.on('error', fail);
      worker.on('exit', () => resolve());
    });

  await Promise.all(Array.from({ length: Math.min(threads, plan.length) }, runWorker));
  if (failure !== undefined) throw failure;
  return results;
}
