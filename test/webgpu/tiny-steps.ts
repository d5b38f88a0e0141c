/** builtin:tiny's benchmark training step on webgpu, for tests that compare steps run under two settings. */
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import type { Model } from '../../src/models/model.js';
import { stepper, type Method } from '../../bench/gpu/step-methods.js';
import type { CausalLmStep } from '../../src/train/synthetic-step.js';

/**
 * `body`'s value, given the step of `method` (bench/gpu/step-methods.ts: r 8 on every linear layer) on a fresh model
 * from `made` (builtin:tiny by default), `tokens` (2 × 16 by default) from seed 3 — an encoder's a classification
 * step; the step and the model are freed after, and no tensor is left behind.
 */
export async function withTinySteps<T>(
  method: Method,
  body: (run: CausalLmStep, model: Model) => Promise<T>,
  made: () => Model = () => loadModel('builtin:tiny').model,
  [batch, length]: readonly [number, number] = [2, 16],
): Promise<T> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const model = made();
  const run = stepper(model, batch, length, 3, method);
  try {
    return await body(run, model);
  } finally {
    run.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
}
