/**
 * `--eval-batch-size`: a number of sequences evaluated together, or `auto` (lm-eval's `--batch_size auto`). On webgpu,
 * auto starts at AUTO_EVAL_BATCH_START (or at `--max-eval-batch-size`, lm-eval's `--max_batch_size`) and halves each
 * time the device refuses a batch for its size — a tensor over the binding limit or out of GPU memory (DeviceRefusal)
 * — the evaluation starting over at the smaller size, as lm-eval halves on CUDA's out-of-memory. Every kind of
 * evaluation takes its longest sequences first, so a batch too large is refused at once. The size found is kept for
 * the process's later runs of the same task, which start from it (or from their own start, where that is smaller). On
 * wasm and cpu memory is not what limits a batch and a larger batch is slower (docs/running.md), so auto is the kind's
 * default there.
 */
import { firstNotRefused } from '../engine/refusal-retry.js';

/** A size; auto from AUTO_EVAL_BATCH_START; or auto from another size (`--max-eval-batch-size`). */
export type EvalBatchSetting = number | 'auto' | AutoEvalBatch;

/** Auto from `auto` sequences down. */
export interface AutoEvalBatch {
  readonly auto: number;
}

/** Where auto starts on webgpu unless told: lm-eval's --max_batch_size default. */
export const AUTO_EVAL_BATCH_START = 64;

/** Auto from `most` down: plain auto at the default start (so that its runs keep their keys). */
export const autoFrom = (most: number): EvalBatchSetting => (most === AUTO_EVAL_BATCH_START ? 'auto' : { auto: most });

/** Whether a setting is auto, from any size. */
export const isAutoEvalBatch = (setting: EvalBatchSetting | undefined): setting is 'auto' | AutoEvalBatch =>
  setting === 'auto' || typeof setting === 'object';

/** The size auto last settled on for each task, in this process. */
const settled = new Map<string, number>();

/** What an evaluation gave and the batch size it ran at. */
export interface BatchedEvaluation<S> {
  readonly scores: S;
  readonly batchSize: number;
}

export interface EvalBatchContext {
  /** The task evaluated: auto's size found for it is where its next run starts. */
  readonly task: string;
  /** The backend in use (tf.getBackend()). */
  readonly backend: string;
  /** The kind's own batch size: used where the setting is absent, and by auto off webgpu. */
  readonly kindDefault: number;
}

/** Runs `evaluate` at the size `setting` asks for; see the module comment for auto. */
export async function evaluateAtBatchSize<S>(
  setting: EvalBatchSetting | undefined,
  context: EvalBatchContext,
  evaluate: (batchSize: number) => Promise<S>,
): Promise<BatchedEvaluation<S>> {
  if (!isAutoEvalBatch(setting)) {
    const batchSize = setting ?? context.kindDefault;
    return { scores: await evaluate(batchSize), batchSize };
  }
  if (context.backend !== 'webgpu')
    return { scores: await evaluate(context.kindDefault), batchSize: context.kindDefault };
  const most = setting === 'auto' ? AUTO_EVAL_BATCH_START : setting.auto;
  const halvings: number[] = [];
  for (let size = Math.min(settled.get(context.task) ?? most, most); size >= 1; size = Math.floor(size / 2)) {
    halvings.push(size);
  }
  const { result: scores, setting: batchSize } = await firstNotRefused(halvings, evaluate);
  settled.set(context.task, batchSize);
  return { scores, batchSize };
}

/** Forgets the sizes auto found (tests). */
export function forgetSettledBatchSizes(): void {
  settled.clear();
}
