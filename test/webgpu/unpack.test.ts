/**
 * The webgpu Unpack kernel (engine/kernels/webgpu/unpack.ts), several outputs per dispatch, against tfjs's unstack on
 * wasm: along each axis of a 3-D tensor, with more parts than one dispatch writes (37 rows), an int32 tensor (tfjs's
 * own kernel), and the gradient of tf.stack (an unstack) — exact, since it only copies; along the first axis by buffer
 * copies (the default) and by the shader (MCEVAL_WEBGPU_JOINS=shaders). Switching the WGSL kernels off restores tfjs's
 * own Unpack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { registerWebGpuKernels } from '../../src/engine/kernels/register.js';
import { withEnv } from '../helpers.js';

async function unstacked(backend: 'wasm' | 'webgpu'): Promise<number[][]> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(3);
  const x = tf.tensor3d(rng.normalArray(37 * 5 * 6), [37, 5, 6]);
  const ints = tf.tensor2d(
    Int32Array.from({ length: 12 }, (_, i) => i * 7),
    [3, 4],
    'int32',
  );
  const parts = [0, 1, 2].flatMap((axis) => tf.unstack(x, axis));
  const intParts = tf.unstack(ints, 1);
  const rows = Array.from({ length: 37 }, (_, i) => tf.tensor1d(rng.normalArray(4 + (i % 3))));
  const grads = tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(tf.stack(xs.map((t) => tf.slice(t, 0, 4))), 3)))(rows);
  const values = await Promise.all([...parts, ...intParts, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, ints, ...parts, ...intParts, ...rows, ...grads]);
  assert.equal(tf.memory().numTensors, before);
  return values;
}

test('webgpu Unpack gives tfjs’s parts exactly, along every axis, and falls back for int32', async () => {
  const reference = await unstacked('wasm');
  assert.deepEqual(await unstacked('webgpu'), reference);
  assert.deepEqual(await withEnv('MCEVAL_WEBGPU_JOINS', 'shaders', () => unstacked('webgpu')), reference);
});

test('switching the WGSL kernels off restores tfjs’s own Unpack, and on again mceval’s', async () => {
  await initEngine('webgpu');
  const ours = tf.getKernel('Unpack', 'webgpu')!.kernelFunc;
  registerWebGpuKernels(false);
  try {
    const theirs = tf.getKernel('Unpack', 'webgpu')?.kernelFunc;
    assert.ok(theirs !== undefined && theirs !== ours);
    assert.equal(tf.getKernel('McevalLowRankProduct', 'webgpu'), undefined);
    const parts = tf.unstack(tf.tensor2d([1, 2, 3, 4], [2, 2]));
    assert.deepEqual(await parts[1]!.array(), [3, 4]);
    tf.dispose(parts);
  } finally {
    registerWebGpuKernels(true);
  }
  assert.equal(tf.getKernel('Unpack', 'webgpu')!.kernelFunc, ours);
});
