/**
 * gatherRows (engine/ops/gather-rows.ts) on webgpu: the rows and their gradient are tf.gather's bit for bit, for
 * distinct rows (its own gradient: McevalRowsBack, which puts each upstream row in its place and zeros elsewhere) and
 * repeated ones (tfjs's, which adds them), and the gradient of distinct rows takes one dispatch where tfjs's Gather
 * gradient takes six.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { gatherRows } from '../../src/engine/ops/gather-rows.js';
import { dispatchesOf } from './dispatches.js';

test('gatherRows on webgpu: tf.gather’s rows and gradient, bit for bit, in fewer dispatches', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(5);
  const x = tf.tensor2d(rng.normalArray(70 * 24), [70, 24]);
  for (const rows of [
    [69, 3, 4, 40, 0, 12],
    [7, 7, 2],
  ]) {
    const dy = tf.tensor2d(rng.normalArray(rows.length * 24), [rows.length, 24]);
    // The rows, their gradient for upstream dy, and the dispatches of the backward pass alone.
    const run = async (pick: (input: Tensor2D) => Tensor2D) => {
      const picked = tf.tidy(() => pick(x));
      const gradientOf = tf.grad((input: Tensor) => pick(input as Tensor2D));
      const gradient = gradientOf(x, dy);
      const both = dispatchesOf('', () => tf.dispose(gradientOf(x, dy)));
      const forward = dispatchesOf('', () => tf.dispose(tf.tidy(() => pick(x))));
      const values = [Array.from(await picked.data()), Array.from(await gradient.data())];
      tf.dispose([picked, gradient]);
      return { values, backward: both - forward };
    };
    const own = await run((input) => gatherRows(input, rows));
    const tfjs = await run((input) => tf.gather(input, tf.tensor1d(rows, 'int32')) as Tensor2D);
    assert.deepEqual(own.values, tfjs.values, `rows ${rows}`);
    if (new Set(rows).size === rows.length) assert.deepEqual([own.backward, tfjs.backward], [1, 6]);
    dy.dispose();
  }
  x.dispose();
  assert.equal(tf.memory().numTensors, before);
});
