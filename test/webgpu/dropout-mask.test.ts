/**
 * The dropout mask made on the device (engine/kernels/webgpu/dropout-mask.ts) is the host's, bit for bit: the same
 * seeded generator gives the same masks on webgpu and wasm, over more elements than one dispatch axis holds (two axes
 * of workgroups); nothing is uploaded and no tensor is left behind. Dropout of a tensor (engine/ops/dropout.ts), which
 * on webgpu the kernel multiplies as it makes the mask, is wasm's product by the mask, and so is its gradient.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { dropout, dropoutMask } from '../../src/engine/ops/dropout.js';
import { DROPOUT_MASK } from '../../src/engine/kernels/webgpu/dropout-mask.js';
import { valuesOn } from './values-on.js';
import { dispatchesOf } from './dispatches.js';

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

/** Each shape's x with dropout and its gradient for an upstream dy; on webgpu, the dispatches of each in `counts`. */
function* dropped(counts: number[]) {
  const rng = new Rng(8);
  for (const shape of SHAPES.slice(0, 2)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const [x, dy] = [0, 1].map(() => tf.tensor(rng.normalArray(size), shape));
    const count = (body: () => void) => (tf.getBackend() === 'webgpu' ? counts.push(dispatchesOf('', body)) : body());
    let outputs: Tensor[] = [];
    count(() => {
      const { value, grad } = tf.valueAndGrad((t: Tensor) => dropout(t, 0.3, rng))(x!, dy!);
      outputs = [value, grad];
    });
    tf.dispose([x!, dy!]);
    yield* outputs;
  }
}

test('dropout on webgpu is the host’s product by the same mask, and so is its gradient, a dispatch each', async () => {
  const counts: number[] = [];
  const reference = await valuesOn('wasm', DROPOUT_MASK, () => dropped([]));
  const candidate = await valuesOn('webgpu', DROPOUT_MASK, () => dropped(counts));
  reference.forEach((expected, i) => {
    const differing = expected.findIndex((value, j) => !Object.is(value, candidate[i]![j]));
    assert.equal(differing, -1, `output ${i} differs first at element ${differing}`);
  });
  assert.deepEqual(counts, [2, 2]);
});
