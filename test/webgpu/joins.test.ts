/**
 * Joins and cuts of whole blocks by buffer copies (engine/kernels/webgpu/buffer-copies.ts, joins.ts, unpack.ts): tf.stack
 * along the first axis, tf.concat of flattened tensors and tf.unstack along the first axis give wasm's values exactly
 * and record no dispatch — with more inputs than a shader binds, host values not yet on the GPU, int32 values and
 * empty inputs among them — where joins along a later axis still run shaders with the same values; a buffer back in
 * the pool is not written by a later upload before the copies that read it; MCEVAL_WEBGPU_JOINS=shaders records the
 * dispatches again; and a MonteCLoRA step's loss is the same bits either way, with none of the joins' dispatches by
 * copies (AdamW's alike either way: it reads the gradients where the global norm joined them, by copies or by tfjs's
 * Concat).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { causalLmStep } from '../../src/train/synthetic-step.js';
import { withEnv } from '../helpers.js';
import { dispatchesOf, dispatchesWhile } from './dispatches.js';

/** Every join and cut of the test, its values and the dispatches recording them took. */
function joinsOf(rng: Rng): { values: Tensor[]; dispatches: { blocks: number; other: number } } {
  // Over tfjs-webgpu's 1,000 values, below which its Concat joins host values on the host, in no dispatch; the first
  // of `flat` is a few host values among them.
  const rows = Array.from({ length: 37 }, () => tf.tensor2d(rng.normalArray(1200), [3, 400]));
  const flat = Array.from({ length: 21 }, (_, i) => tf.tensor1d(rng.normalArray(i === 0 ? 3 : 1000 + i)));
  const ints = [tf.tensor1d([7, -2147483648, 2147483647], 'int32'), tf.tensor1d([0, 5], 'int32')];
  const empty = tf.tensor1d([]);
  const cube = tf.tensor3d(rng.normalArray(5 * 3 * 4), [5, 3, 4]);
  const values: Tensor[] = [];
  const blocks = dispatchesOf('', () => {
    const [first, second] = [rows[0]!, rows[1]!].map((row) => tf.reshape(row, [1, 1200]));
    values.push(
      tf.stack(rows),
      tf.concat(flat),
      tf.concat([flat[0]!, empty, flat[1]!]),
      tf.concat(ints),
      tf.concat([first!, second!], 1),
      ...tf.unstack(cube),
    );
    tf.dispose([first!, second!]);
  });
  const other = dispatchesOf('', () => {
    values.push(tf.stack(rows, 1), tf.concat(rows, 1), ...tf.unstack(cube, 1));
  });
  tf.dispose([...rows, ...flat, ...ints, empty, cube]);
  return { values, dispatches: { blocks, other } };
}

async function joined(backend: 'wasm' | 'webgpu') {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const { values, dispatches } = joinsOf(new Rng(5));
  const read = await Promise.all(values.map(async (t) => ({ shape: t.shape, values: Array.from(await t.data()) })));
  tf.dispose(values);
  assert.equal(tf.memory().numTensors, before);
  return { read, dispatches };
}

test('joins and cuts of whole blocks are copies with wasm’s values, and later axes keep their shaders', async () => {
  const reference = await joined('wasm');
  const copies = await joined('webgpu');
  assert.deepEqual(copies.read, reference.read);
  assert.equal(copies.dispatches.blocks, 0);
  assert.ok(copies.dispatches.other > 0);
  const shaders = await withEnv('MCEVAL_WEBGPU_JOINS', 'shaders', () => joined('webgpu'));
  assert.deepEqual(shaders.read, reference.read);
  // 37 stacked rows and 21 joined tensors take several shader joins each where a shader binds 16 buffers or fewer.
  assert.ok(shaders.dispatches.blocks >= 8, `${shaders.dispatches.blocks} dispatches`);
});

test('a buffer back in the pool is not written by an upload before the copies that read it', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(7);
  const expected: number[][] = [];
  const results: Tensor[] = [];
  // Each round's first input goes back to the pool as soon as its copies are recorded, unsubmitted; the next round's
  // host values of the same size are uploaded at once (queue.writeBuffer lands before any later submit).
  for (let round = 0; round < 6; round++) {
    const [a, b] = [rng.normalArray(64), rng.normalArray(64)];
    const [x, y] = [tf.tensor1d(a), tf.tensor1d(b)];
    results.push(tf.stack([x, y]));
    expected.push([...Float32Array.from(a), ...Float32Array.from(b)]);
    x.dispose();
    y.dispose();
  }
  const read = await Promise.all(results.map(async (t) => Array.from(await t.data())));
  assert.deepEqual(read, expected);
  tf.dispose(results);
  assert.equal(tf.memory().numTensors, before);
});

test('MCEVAL_WEBGPU_JOINS names its choices on a bad value', async () => {
  await assert.rejects(
    withEnv('MCEVAL_WEBGPU_JOINS', 'memcpy', () => initEngine('webgpu')),
    /MCEVAL_WEBGPU_JOINS=memcpy is not a choice mceval has: use .*copies.*shaders/,
  );
});

async function monteCloraSteps(): Promise<{
  losses: number[];
  dispatches: number;
  joins: number;
  adamw: number;
  sums: number;
}> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { model } = loadModel('builtin:tiny');
  const config = parseMonteCloraConfig({ r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 't');
  const run = causalLmStep(model, monteCloraMethod, config, { batch: 2, length: 16, seed: 3 });
  try {
    const losses = [await run.step()];
    // The joins' shaders: tfjs's Concat (its Pack runs it) and mceval's Unpack. AdamW's, apart: it reads the global
    // norm's joins either way; and the weight gradients' second pass, which at these 32 tokens (one chunk) only copies
    // their results apart under `shaders`, where copies cut them otherwise.
    const sums = await dispatchesWhile(['McevalWeightGradientSums'], () =>
      dispatchesWhile(['McevalAdamW'], () =>
        dispatchesWhile(['concat', 'McevalUnpack'], () =>
          dispatchesWhile([''], async () => [await run.step(), await run.step()]),
        ),
      ),
    );
    const adamw = sums.value;
    const joins = adamw.value;
    return {
      losses: [...losses, ...joins.value.value],
      dispatches: joins.value.count / 2,
      joins: joins.count / 2,
      adamw: adamw.count / 2,
      sums: sums.count / 2,
    };
  } finally {
    run.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
}

test('a MonteCLoRA step has the same loss bits with its joins copied, and none of their dispatches', async () => {
  const copies = await monteCloraSteps();
  const shaders = await withEnv('MCEVAL_WEBGPU_JOINS', 'shaders', monteCloraSteps);
  assert.deepEqual(copies.losses, shaders.losses);
  assert.equal(copies.joins, 0);
  // The global norm's join of the gradients (the factors' kernels read and write each layer's own buffers).
  assert.ok(shaders.joins >= 1, `${shaders.joins} joins' dispatches`);
  assert.equal(copies.adamw, shaders.adamw, `AdamW: ${copies.adamw} dispatches, ${shaders.adamw} by shaders`);
  assert.equal(copies.sums, 0);
  assert.ok(shaders.sums > 0);
  assert.equal(copies.dispatches - copies.adamw, shaders.dispatches - shaders.joins - shaders.adamw - shaders.sums);
});
