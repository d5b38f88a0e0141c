/**
 * RoPE by the webgpu kernel (engine/kernels/webgpu/rope.ts, through models/layers/rope.ts) against the same layer on
 * wasm (tfjs ops, the rotation as a matrix product): output and input gradient for [batch, length, heads, headDim]
 * at positions that do not start at 0 (a cache's continuation), head sizes 8 and 64; and a layer's queries and keys
 * rotated together (applyRopePair: one dispatch each way on webgpu), by heads or as [batch, length, heads·headDim]
 * (the heads cut inside the op, no reshape on the tape). Within 1e-5 of the largest value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { applyRope, applyRopePair, ropeInverseFrequencies, ropeTables } from '../../src/models/layers/rope.js';
import { ROPE } from '../../src/engine/kernels/webgpu/rope.js';
import { assertAgree } from './agreement.js';
import { withKernelCalls } from './dispatches.js';

async function run(backend: 'wasm' | 'webgpu', headDim: number): Promise<number[][]> {
  await initEngine(backend);
  if (backend === 'webgpu') assert.ok(tf.getKernel(ROPE, 'webgpu'), 'the webgpu kernel is registered');
  const before = tf.memory().numTensors;
  const [batch, length, heads] = [2, 5, 3];
  const rng = new Rng(13);
  const positions = Int32Array.from({ length: batch * length }, (_, i) => 7 * (i >= length ? 1 : 0) + (i % length));
  const tables = ropeTables(positions, batch, length, ropeInverseFrequencies(headDim, 10000));
  const x = tf.tensor4d(rng.normalArray(batch * length * heads * headDim), [batch, length, heads, headDim]);
  const dy = tf.tensor4d(rng.normalArray(x.size), [batch, length, heads, headDim]);
  const { value, grads } = tf.valueAndGrads((xi: Tensor) => tf.sum(tf.mul(applyRope(xi, tables), dy)))([x]);
  const out = tf.tidy(() => applyRope(x, tables));
  const arrays = await Promise.all([out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([x, dy, value, out, ...grads, tables.cos, tables.sin, tables.rotation]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

for (const headDim of [8, 64]) {
  test(`webgpu RoPE agrees with wasm: head size ${headDim}`, async () => {
    const reference = await run('wasm', headDim);
    const candidate = await run('webgpu', headDim);
    ['output', 'dx'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
  });
}

/** A layer's queries and keys (four query heads, two key heads) rotated together, and their gradients. */
async function runPair(backend: 'wasm' | 'webgpu', headDim: number, byHeads = true): Promise<number[][]> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const [batch, length] = [2, 5];
  const rng = new Rng(17);
  const positions = Int32Array.from({ length: batch * length }, (_, i) => 3 * (i >= length ? 1 : 0) + (i % length));
  const tables = ropeTables(positions, batch, length, ropeInverseFrequencies(headDim, 10000));
  const [q, k, dq, dk] = [4, 2, 4, 2].map((heads) =>
    tf.tensor(
      rng.normalArray(batch * length * heads * headDim),
      byHeads ? [batch, length, heads, headDim] : [batch, length, heads * headDim],
    ),
  ) as [Tensor, Tensor, Tensor, Tensor];
  const loss = (qi: Tensor, ki: Tensor) => {
    const [rq, rk] = applyRopePair(qi, ki, tables);
    return tf.add(tf.sum(tf.mul(rq, dq)), tf.sum(tf.mul(rk, dk)));
  };
  const { value, grads } = tf.valueAndGrads(loss)([q, k]);
  const out = tf.tidy(() => applyRopePair(q, k, tables));
  [...out, ...grads].forEach((t, i) => assert.deepEqual(t.shape, [q, k][i % 2]!.shape));
  const arrays = await Promise.all([...out, ...grads].map(async (t) => Array.from(await t.data())));
  tf.dispose([q, k, dq, dk, value, ...out, ...grads, tables.cos, tables.sin, tables.rotation]);
  assert.equal(tf.memory().numTensors, before);
  return arrays;
}

for (const headDim of [8, 64]) {
  test(`webgpu RoPE of queries and keys in one dispatch agrees with wasm: head size ${headDim}`, async () => {
    const reference = await runPair('wasm', headDim);
    const candidate = await runPair('webgpu', headDim);
    ['q', 'k', 'dq', 'dk'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 1e-5));
  });
}

test('webgpu RoPE of queries and keys given as [batch, length, heads·headDim]: the same bits, no reshape taped', async () => {
  const byHeads = await runPair('webgpu', 8);
  const { value: flat, calls } = await withKernelCalls('Reshape', () => runPair('webgpu', 8, false), {
    tapedOnly: true,
  });
  ['q', 'k', 'dq', 'dk'].forEach((label, i) => assert.deepEqual(flat[i], byHeads[i], label));
  assert.equal(calls, 0);
});
