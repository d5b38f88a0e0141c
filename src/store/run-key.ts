/**
 * A run's key: the sha256 of everything that determines its numbers — the task and the hash of the data it uses, the
 * model and its hash, the preset (name, method, adapter config, training settings), the grid point, seed, epochs,
 * limits, decoding, the evaluation's batch size where given, backend and mceval version. Equal keys mean the same run,
 * so a rerun skips it; a sweep's id is the hash of its keys.
 */
import type { DataLimits } from '../data/limit.js';
import type { DecodingSettings } from '../tasks/types.js';
import type { EvalBatchSetting } from '../runners/eval-batch.js';
import type { AccumulationSetting } from '../train/auto-accumulation.js';
import type { SweepPlanEntry } from '../sweep/run-sweep.js';
import { sha256, stableJson } from './stable-json.js';

export interface RunKeyContext {
  readonly modelSpec: string;
  readonly modelSha256: string;
  /** The hash of each task's splits as used, by task name. */
  readonly dataSha256: ReadonlyMap<string, string>;
  readonly seed: number;
  /** --grad-accum, where given (auto: the count auto finds is the device's, not the run's). */
  readonly gradientAccumulation: AccumulationSetting | undefined;
  readonly limits: DataLimits;
  readonly decoding: DecodingSettings | undefined;
  /** --eval-batch-size, where given (a number, or auto: the size auto finds is the device's, not the run's). */
  readonly evalBatchSize?: EvalBatchSetting | undefined;
  readonly backend: string;
  readonly mcevalVersion: string;
}

export function runKey(entry: SweepPlanEntry, context: RunKeyContext): string {
  const { preset } = entry;
  return sha256(
    stableJson({
      task: entry.task.task.name,
      data: context.dataSha256.get(entry.task.task.name),
      model: { spec: context.modelSpec, sha256: context.modelSha256 },
      preset: {
        name: preset.name,
        method: preset.method.name,
        adapter: preset.adapterConfig,
        training: preset.training,
      },
      point: entry.point,
      seed: context.seed,
      // Float-level differences only, but a different computation: its own run.
      grad_accum: context.gradientAccumulation ?? entry.preset.training.gradientAccumulation,
      epochs: entry.epochs,
      // The --train-file's content is in the data hash; its path does not change a number.
      limits: { limit: context.limits.evalLimit ?? null, train_limit: context.limits.trainLimit ?? null },
      decoding: context.decoding ?? null,
      // Like grad_accum, float-level only; absent at the default, so that runs keep the keys they had.
      ...(context.evalBatchSize === undefined ? {} : { eval_batch_size: context.evalBatchSize }),
      backend: context.backend,
      mceval: context.mcevalVersion,
    }),
  );
}

/** A sweep's id: the hash of its run keys, in any order. */
export function sweepId(keys: readonly string[]): string {
  return sha256([...keys].sort().join('\n'));
}
