/**
 * The dropout mask made on the device (engine/kernels/webgpu/dropout-mask.ts) is the host's, bit for bit: the same
 * seeded generator gives the same masks on webgpu and wasm, over more elements than one dispatch axis holds (two axes
 * of workgroups); nothing is uploaded and no tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { dropoutMask } from '../../src/engine/ops/dropout.js';
import { DROPOUT_MASK } from '../../src/engine/kernels/webgpu/dropout-mask.js';
import { valuesOn } from './values-on.js';

const SHAPES = [
  [3, 5],
  [2, 7, 300],
  // 65,535 workgroups of 256 hold 16,776,960 elements: this one takes a second axis.
  [17, 1024, 1000],
];

function* masks() {
  const rng = new Rng(21);
  for (const [i, shape] of SHAPES.entries()) {
    const mask = dropoutMask(shape, [0.05, 0.5, 0.1][i]!, rng)!;
    assert.deepEqual(mask.shape, shape);
    yield mask;
  }
}

test('webgpu makes the same dropout masks as the host, from the same seed', async () => {
  const reference = await valuesOn('wasm', DROPOUT_MASK, masks);
  const candidate = await valuesOn('webgpu', DROPOUT_MASK, masks);
  reference.forEach((expected, i) => {
    const actual = candidate[i]!;
    assert.equal(actual.length, expected.length);
    const differing = expected.findIndex((value, j) => value !== actual[j]);
    assert.equal(differing, -1, `mask ${i} differs first at element ${differing}`);
  });
});
