/**
 * `--grad-accum`: micro-batches per optimiser step, or `auto` (accelerate's find_executable_batch_size, which the
 * Trainer's auto_find_batch_size uses, with the grid's batch size kept: the effective batch, not the micro-batch, is
 * the paper's). On webgpu auto trains in 1 micro-batch and, each time the device refuses a step for its size (a
 * DeviceRefusal: a tensor over the binding limit, or out of GPU memory), trains the run again from its start in twice
 * as many, up to one row each — the same run as `--grad-accum N` at the N it settles on, from the same weights, seed
 * and draws. Batches are shuffled, so a refusal may come at any step; the count found is kept for the process's later
 * runs of the same task and batch size, which start from it. On wasm and cpu auto is 1: memory is the host's.
 */
import { firstNotRefused } from '../engine/refusal-retry.js';

export type AccumulationSetting = number | 'auto';

/** The count auto last settled on per task and batch size, in this process. */
const settled = new Map<string, number>();

export interface AccumulationContext {
  readonly task: string;
  /** The grid point's batch size: the effective batch. */
  readonly batchSize: number;
  /** The backend in use (tf.getBackend()). */
  readonly backend: string;
}

/** Counts auto tries from `first`: doubling while a micro-batch holds more than one row, then one row each. */
export function accumulationsFrom(first: number, batchSize: number): number[] {
  const counts = [];
  for (let count = first; count < batchSize; count *= 2) counts.push(count);
  return [...counts, batchSize];
}

/**
 * Runs `train` with the micro-batches `setting` asks for (auto as the module comment says): its result and the count
 * it trained with. `train` starts the run from its beginning each time and frees what it made when it throws.
 */
export async function trainWithAccumulation<R>(
  setting: AccumulationSetting,
  context: AccumulationContext,
  train: (accumulation: number) => Promise<R>,
): Promise<{ result: R; accumulation: number }> {
  if (setting !== 'auto' || context.backend !== 'webgpu') {
    const accumulation = setting === 'auto' ? 1 : setting;
    return { result: await train(accumulation), accumulation };
  }
  const key = `${context.task}\u0000${context.batchSize}`;
  const counts = accumulationsFrom(Math.min(settled.get(key) ?? 1, context.batchSize), context.batchSize);
  const { result, setting: accumulation } = await firstNotRefused(counts, train);
  settled.set(key, accumulation);
  return { result, accumulation };
}

/** Forgets the counts auto found (tests). */
export function forgetSettledAccumulations(): void {
  settled.clear();
}
