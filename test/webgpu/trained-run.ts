/**
 * A fine-tuning run a webgpu test compares with another (overlap.test.ts, fine-tune-replay.test.ts): its result and
 * every trained value, and whether two runs trained the same.
 */
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import type { Model } from '../../src/models/model.js';
import type { AppliedAdapter, ParameterGroup } from '../../src/peft/types.js';
import type { TrainResult } from '../../src/train/fine-tune.js';

export interface TrainedRun {
  readonly result: TrainResult;
  /** Every trained value (the groups' variables), in order. */
  readonly weights: number[];
}

/**
 * `train`'s result and the groups' values after it; the adapter and model are freed after, and no tensor made since
 * `before` (tf.memory().numTensors before the model was made) may outlive them.
 */
export async function trainedRun(
  before: number,
  model: Model,
  adapter: AppliedAdapter,
  groups: readonly ParameterGroup[],
  train: () => Promise<TrainResult>,
): Promise<TrainedRun> {
  try {
    const result = await train();
    const values = await Promise.all(groups.flatMap((group) => group.variables).map((variable) => variable.data()));
    return { result, weights: values.flatMap((array) => Array.from(array)) };
  } finally {
    adapter.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before, 'a tensor outlived the run');
  }
}

/** The same log, steps, stop and epoch losses, and every weight bit for bit: the device ran the same work. */
export function assertSameTraining(a: TrainedRun, b: TrainedRun): void {
  assert.deepEqual(a.result.log, b.result.log);
  assert.equal(a.result.steps, b.result.steps);
  assert.equal(a.result.diverged, b.result.diverged);
  assert.equal(a.result.divergedAtStep, b.result.divergedAtStep);
  assert.deepEqual(a.result.epochLosses, b.result.epochLosses);
  assert.deepEqual(a.weights, b.weights);
}
