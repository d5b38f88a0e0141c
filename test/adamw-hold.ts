/**
 * The one-kernel AdamW's `hold` on the current backend (the kernel's contract, engine/kernels/adamw-update.ts): with
 * the step before's numbers finite, an update gives the same bits as one without (whatever an adapter's step log after
 * them holds); with any of them NaN or ±∞, no
 * parameter and no moment changes, whether the parameter is rewritten in place or gets a new buffer (one shared by a
 * reshape). Shared by the host backends' suite and webgpu's.
 */
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/rng.js';
import { tf, type Variable } from '../src/engine/tf.js';
import type { AdamW } from '../src/train/adamw.js';
import { adamwFixture, adamwMoments } from './helpers.js';

/** Every parameter's values, then each one's m and v. */
async function state(optimizer: AdamW, variables: readonly Variable[]): Promise<number[][]> {
  const values = [...(await Promise.all(variables.map((v) => v.data()))), ...(await adamwMoments(optimizer))];
  return values.map((array) => Array.from(array));
}

export async function assertHeldUpdates(): Promise<void> {
  const rng = new Rng(21);
  const shapes = [[16, 8], [24], [8, 12]];
  const initial = shapes.map((shape) => rng.normalArray(shape.reduce((a, b) => a * b, 1)));
  const [held, plain] = [adamwFixture(shapes, initial, true), adamwFixture(shapes, initial, true)];
  // A reshape shares parameter 2's buffer, so it is updated into a new one (which the parameter then holds alone: a
  // new reshape before each update).
  const shared = (variables: readonly Variable[]) => tf.reshape(variables[2]!, [-1]);
  const start = tf.memory().numTensors;
  const gradients = shapes.map((shape) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape));
  const scale = tf.scalar(0.5);
  for (let step = 0; step < 2; step++) {
    // The second time with a step log after the three numbers (an adapter's, fine-tune.ts): read by no hold.
    const finite = tf.tensor1d(step === 0 ? [1.5, -0.25, 3] : [1.5, -0.25, 3, Number.NaN, -Infinity]);
    const aliases = [shared(held.variables), shared(plain.variables)];
    held.optimizer.apply(gradients, 0.01, scale, finite);
    plain.optimizer.apply(gradients, 0.01, scale);
    [finite, ...aliases].forEach((t) => t.dispose());
    assert.deepEqual(await state(held.optimizer, held.variables), await state(plain.optimizer, plain.variables));
  }
  const kept = await state(held.optimizer, held.variables);
  for (const numbers of [
    [Number.NaN, 1, 1],
    [1, Infinity, 1],
    [1, 1, -Infinity],
  ]) {
    const hold = tf.tensor1d(numbers);
    const alias = shared(held.variables);
    held.optimizer.apply(gradients, 0.01, scale, hold);
    [hold, alias].forEach((t) => t.dispose());
    assert.deepEqual(await state(held.optimizer, held.variables), kept, `hold ${numbers.join(', ')}`);
  }
  [...gradients, scale].forEach((t) => t.dispose());
  assert.equal(tf.memory().numTensors, start);
  [held, plain].forEach(({ optimizer, variables }) => {
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
  });
}
