/**
 * The rows' cross-entropy by the webgpu kernels (engine/kernels/webgpu/cross-entropy.ts, through
 * engine/ops/cross-entropy.ts) against the same op on wasm (tfjs ops): the losses and the gradient with and without an
 * upstream dy, for 2 classes (a classifier), a byte vocabulary, more classes than a workgroup's invocations and a
 * vocabulary that takes the wider workgroup, rows that are not a multiple of anything, and logits out to ±150 with one
 * per row at the top (exp overflows from 89). Within 1e-5 of the largest value; one dispatch each; no tensor left
 * behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor1D, type Tensor2D } from '../../src/engine/tf.js';
import { crossEntropyGradient, crossEntropyValue } from '../../src/engine/ops/cross-entropy.js';
import { CROSS_ENTROPY } from '../../src/engine/kernels/webgpu/cross-entropy.js';
import { assertAgree } from './agreement.js';
import { dispatchesOf } from './dispatches.js';

const SHAPES: [rows: number, classes: number, spread: number][] = [
  [5, 2, 3],
  [37, 259, 20],
  [9, 1000, 150],
  // 256 invocations a row from 8,192 classes.
  [3, 10000, 150],
];

async function run(backend: 'wasm' | 'webgpu', rows: number, classes: number, spread: number) {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(CROSS_ENTROPY, 'webgpu'), 'the webgpu kernels are registered');
  const before = tf.memory().numTensors;
  const rng = new Rng(rows * classes);
  // Normal logits within ±spread, and in each row one class at +spread: past exp's range unless the row's maximum is
  // taken off first.
  const values = rng.normalArray(rows * classes, 0, spread / 6).map((z) => Math.max(-spread, Math.min(spread, z)));
  for (let row = 0; row < rows; row++) values[row * classes + rng.integer(classes)] = spread;
  const logits = tf.tensor2d(values, [rows, classes]) as Tensor2D;
  const labels = Array.from({ length: rows }, () => rng.integer(classes));
  const dy = tf.tensor1d(rng.normalArray(rows)) as Tensor1D;
  const counts: number[] = [];
  const count = (body: () => void) => {
    if (backend === 'webgpu') counts.push(dispatchesOf('', body));
    else body();
  };
  const results: (Tensor1D | Tensor2D)[] = [];
  count(() => results.push(crossEntropyValue(logits, labels)));
  count(() => results.push(crossEntropyGradient(logits, labels)));
  count(() => results.push(crossEntropyGradient(logits, labels, dy)));
  const arrays = await Promise.all(results.map(async (t) => Array.from(await t.data())));
  tf.dispose([logits, dy, ...results]);
  assert.equal(tf.memory().numTensors, before);
  return { values: arrays, counts };
}

for (const [rows, classes, spread] of SHAPES)
  test(`webgpu cross-entropy agrees with wasm: ${rows} rows of ${classes} classes, logits to ±${spread}`, async () => {
    const reference = await run('wasm', rows, classes, spread);
    const candidate = await run('webgpu', rows, classes, spread);
    ['losses', 'gradient', 'gradient times dy'].forEach((label, i) =>
      assertAgree(label, candidate.values[i]!, reference.values[i]!, 1e-5),
    );
    assert.deepEqual(candidate.counts, [1, 1, 1]);
  });
