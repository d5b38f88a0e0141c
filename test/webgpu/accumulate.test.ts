/**
 * Gradient accumulation's running sums on webgpu: addEach's McevalAccumulate (engine/kernels/webgpu/accumulate.ts)
 * against tfjs's Add per pair — the same float32 additions, so the same bits — for more pairs than one dispatch binds,
 * with the sums written over their old buffers where nothing else holds them (read back before, or never uploaded)
 * and into new ones where something does (a reshape still held, a sum given twice, a sum that is also a term); and
 * fine-tuning with 2 micro-batches on webgpu against the whole batch at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { addEach } from '../../src/engine/ops/add-each.js';
import { ACCUMULATE } from '../../src/engine/kernels/webgpu/accumulate.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { dispatchesOf, withKernelCalls } from './dispatches.js';
import { loadModel } from '../../src/models/load.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { fineTuneAdapterAndHead } from '../helpers.js';

const SHAPES = [[64, 8], [5], [8, 172], [300, 50], [1], [16, 16, 4]];

const randomTensor = (rng: Rng, shape: number[]) => tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

/** tfjs's Add of each pair, read back (the sums are read before addEach may write over them). */
async function addedByTfjs(sums: readonly Tensor[], terms: readonly Tensor[]): Promise<Float32Array[]> {
  const added = sums.map((sum, k) => tf.add(sum, terms[k]!));
  const values = await Promise.all(added.map((t) => t.data() as Promise<Float32Array>));
  added.forEach((t) => t.dispose());
  return values;
}

test('addEach on webgpu gives tfjs Add’s sums, over its old buffers where nothing else holds them', async () => {
  await initEngine('webgpu');
  assert.ok(tf.getKernel(ACCUMULATE, 'webgpu'), 'the webgpu kernel is registered');
  const rng = new Rng(5);
  // 18 pairs: more than one dispatch binds (8 in place at 16 storage buffers).
  const shapes = [...SHAPES, ...SHAPES, ...SHAPES];
  const tensor = (shape: number[]) => randomTensor(rng, shape);
  const sums = shapes.map(tensor);
  const terms = shapes.map(tensor);
  const expected = await addedByTfjs(sums, terms);
  // Read back first: the kernel must not leave tfjs a stale host copy of a sum it rewrote.
  await Promise.all(sums.map((sum) => sum.data()));
  const before = tf.memory().numTensors;
  const buffers = sums.map((sum) => sum.dataId);
  let results: Tensor[] = [];
  const pairs = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) / 2;
  const dispatches = dispatchesOf('McevalAccumulate', () => {
    results = addEach(sums, terms);
  });
  assert.equal(dispatches, Math.ceil(shapes.length / pairs));
  for (const [k, result] of results.entries()) {
    assert.deepEqual(result.shape, shapes[k]);
    assert.equal(result.dataId, buffers[k], `sum ${k} written in place`);
    assert.deepEqual(await result.data(), expected[k], `sum ${k}`);
  }
  sums.forEach((sum) => sum.dispose());
  results.forEach((result) => result.dispose());
  assert.equal(tf.memory().numTensors, before - sums.length);
  terms.forEach((term) => term.dispose());
});

test('a sum something else holds, given twice, or also a term gets a new buffer and leaves the old values', async () => {
  await initEngine('webgpu');
  const rng = new Rng(6);
  const start = tf.memory().numTensors;
  const tensor = (shape: number[]) => randomTensor(rng, shape);
  const held = tensor([4, 8]);
  const view = tf.reshape(held, [32]);
  const twice = tensor([7]);
  const both = tensor([3, 3]);
  const free = tensor([10]);
  const sums = [held, twice, twice, both, free];
  const terms = [tensor([4, 8]), tensor([7]), tensor([7]), both, tensor([10])];
  const expected = await addedByTfjs(sums, terms);
  const [viewBefore, twiceBefore, bothBefore] = await Promise.all([view.data(), twice.data(), both.data()]);
  const results = addEach(sums, terms);
  for (const [k, result] of results.entries()) assert.deepEqual(await result.data(), expected[k], `sum ${k}`);
  assert.deepEqual(
    results.map((result, k) => result.dataId === sums[k]!.dataId),
    [false, false, false, false, true],
  );
  assert.deepEqual(await view.data(), viewBefore, 'a reshape of a sum keeps its values');
  assert.deepEqual(await twice.data(), twiceBefore);
  assert.deepEqual(await both.data(), bothBefore);
  [view, held, twice, both, free, ...terms, ...results].forEach((t) => t.dispose());
  assert.equal(tf.memory().numTensors, start);
});

test('sums never uploaded (host values only, first or not) are written in place with the right values', async () => {
  await initEngine('webgpu');
  const start = tf.memory().numTensors;
  for (const size of [3, 500]) {
    const values = (scale: number) => Array.from({ length: size }, (_, i) => scale * i + 1);
    const sums = [tf.tensor(values(1)), tf.tensor(values(2))];
    const terms = [tf.tensor(values(3)), tf.tensor(values(4))];
    const results = addEach(sums, terms);
    assert.deepEqual(
      results.map((result, k) => result.dataId === sums[k]!.dataId),
      [true, true],
    );
    // (i + 1) + (3i + 1) and (2i + 1) + (4i + 1).
    const expected = [4, 6].map((scale) => Array.from({ length: size }, (_, i) => scale * i + 2));
    for (const [k, result] of results.entries()) assert.deepEqual(Array.from(await result.data()), expected[k]);
    [...sums, ...terms, ...results].forEach((t) => t.dispose());
  }
  assert.equal(tf.memory().numTensors, start);
});

test('fine-tuning with 2 micro-batches on webgpu gives the loss, gradient norm and weights of the whole batch', async () => {
  await initEngine('webgpu');
  // (parity.test.ts trains every method with 2 micro-batches on webgpu and on wasm.)
  const run = async (gradientAccumulation: number) => {
    const { model, tokenizer } = loadModel('builtin:tiny');
    model.addClassificationHead(2);
    const adapter = loraMethod.apply(model, parseLoraConfig({ r: 4, alpha: 8, dropout: 0 }, 't'), new Rng(1));
    const examples = [
      'good film',
      'bad film',
      'great plot',
      'awful plot',
      'fine acting',
      'poor acting',
      'nice',
      'dull',
    ].map((text, i) => ({ ids: tokenizer.encode(text), label: i % 2 }));
    try {
      const { value, calls } = await withKernelCalls(ACCUMULATE, async () => {
        const result = await fineTuneAdapterAndHead(model, adapter, examples, gradientAccumulation);
        return {
          log: result.log,
          weights: await Promise.all(adapter.groups.flatMap((g) => g.variables.map((v) => v.data()))),
        };
      });
      return { log: value.log, weights: value.weights.flatMap((w) => Array.from(w)), accumulations: calls };
    } finally {
      adapter.dispose();
      model.dispose();
    }
  };
  const before = tf.memory().numTensors;
  const whole = await run(1);
  const accumulated = await run(2);
  assert.equal(whole.accumulations, 0);
  // Four steps, each adding its second micro-batch's gradients in one call.
  assert.equal(accumulated.accumulations, 4);
  assert.equal(accumulated.log.length, 4);
  accumulated.log.forEach((entry, i) => {
    const reference = whole.log[i]!;
    assert.ok(Math.abs(entry.loss - reference.loss) < 1e-5, `loss ${entry.loss} vs ${reference.loss}`);
    assert.ok(Math.abs(entry.grad_norm - reference.grad_norm) < 1e-5, 'gradient norm');
  });
  const worst = Math.max(...accumulated.weights.map((w, i) => Math.abs(w - whole.weights[i]!)));
  assert.ok(worst < 1e-5, `weights differ by ${worst}`);
  assert.equal(tf.memory().numTensors, before, 'a tensor outlived the runs');
});
