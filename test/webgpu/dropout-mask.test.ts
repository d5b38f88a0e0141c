/**
 * The dropout mask made on the device (engine/kernels/webgpu/dropout-mask.ts) is the host's, bit for bit: the same
 * seeded generator gives the same masks on webgpu and wasm, over more elements than one dispatch axis holds (two axes
 * of workgroups); nothing is uploaded and no tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';
import { dropoutMask } from '../../src/engine/ops/dropout.js';
import { DROPOUT_MASK } from '../../src/engine/kernels/webgpu/dropout-mask.js';

const SHAPES = [
  [3, 5],
  [2, 7, 300],
  // 65,535 workgroups of 256 hold 16,776,960 elements: this one takes a second axis.
  [17, 1024, 1000],
];

async function masks(backend: 'wasm' | 'webgpu'): Promise<Float32Array[]> {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(DROPOUT_MASK, 'webgpu'), 'the webgpu kernel is registered');
  const before = tf.memory().numTensors;
  const rng = new Rng(21);
  const out = [];
  for (const [i, shape] of SHAPES.entries()) {
    const mask = dropoutMask(shape, [0.05, 0.5, 0.1][i]!, rng)!;
    assert.deepEqual(mask.shape, shape);
    out.push((await mask.data()) as Float32Array);
    mask.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
  return out;
}

test('webgpu makes the same dropout masks as the host, from the same seed', async () => {
  const reference = await masks('wasm');
  const candidate = await masks('webgpu');
  reference.forEach((expected, i) => {
    const actual = candidate[i]!;
    assert.equal(actual.length, expected.length);
    const differing = expected.findIndex((value, j) => value !== actual[j]);
    assert.equal(differing, -1, `mask ${i} differs first at element ${differing}`);
  });
});
