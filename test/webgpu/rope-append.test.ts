/**
 * A decoding step's RoPE and KV cache by McevalRopeAppend (engine/kernels/webgpu/rope.ts, through rotateIntoCache in
 * models/layers/rope.ts) against the ops it replaces on the same backend — applyRopePair and two concatenations — bit
 * for bit: four query heads and two key heads, three past positions, one and two new ones, head sizes 8 and 64, with
 * the queries in the dispatch and apart. A step recorded for a backward pass takes the ops, and its gradients agree
 * with wasm's (1e-5 of the largest value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor3D } from '../../src/engine/tf.js';
import {
  applyRopePair,
  ropeInverseFrequencies,
  ropeTables,
  rotateIntoCache,
  type RopeTables,
} from '../../src/models/layers/rope.js';
import { ROPE_APPEND, ropeAppendBindings } from '../../src/engine/kernels/webgpu/rope.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { dispatchesOf, withKernelCalls } from './dispatches.js';
import { assertAgree } from './agreement.js';

const [BATCH, PAST, QUERY_HEADS, KEY_HEADS] = [2, 3, 4, 2];

interface Step {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor3D;
  readonly past: { keys: Tensor3D; values: Tensor3D };
  readonly tables: RopeTables;
  readonly all: Tensor[];
}

/** A step's inputs from a seeded generator: positions continue each row's past. */
function step(length: number, headDim: number): Step {
  const rng = new Rng(29 + length);
  const width = KEY_HEADS * headDim;
  const positions = Int32Array.from({ length: BATCH * length }, (_, i) => PAST + (i % length));
  const tables = ropeTables(positions, BATCH, length, ropeInverseFrequencies(headDim, 10000));
  const q = tf.tensor4d(rng.normalArray(BATCH * length * QUERY_HEADS * headDim), [BATCH, length, QUERY_HEADS, headDim]);
  const k = tf.tensor4d(rng.normalArray(BATCH * length * width), [BATCH, length, KEY_HEADS, headDim]);
  const v = tf.tensor3d(rng.normalArray(BATCH * length * width), [BATCH, length, width]);
  const past = {
    keys: tf.tensor3d(rng.normalArray(BATCH * PAST * width), [BATCH, PAST, width]),
    values: tf.tensor3d(rng.normalArray(BATCH * PAST * width), [BATCH, PAST, width]),
  };
  return { q, k, v, past, tables, all: [q, k, v, past.keys, past.values, tables.cos, tables.sin, tables.rotation] };
}

const read = (tensors: readonly Tensor[]) => Promise.all(tensors.map(async (t) => Array.from(await t.data())));

for (const headDim of [8, 64]) {
  for (const length of [1, 2]) {
    test(`McevalRopeAppend gives the ops' queries and cache bit for bit: head size ${headDim}, ${length} new`, async () => {
      await initEngine('webgpu');
      assert.ok(tf.getKernel(ROPE_APPEND, 'webgpu'), 'the webgpu kernel is registered');
      const before = tf.memory().numTensors;
      const { q, k, v, past, tables, all } = step(length, headDim);
      const reference = tf.tidy(() => {
        const [rotatedQ, rotatedK] = applyRopePair(q, k, tables);
        const keys = tf.concat([past.keys, tf.reshape(rotatedK, v.shape)], 1);
        return [rotatedQ, keys, tf.concat([past.values, v], 1)];
      });
      let candidate: Tensor[] = [];
      const dispatches = dispatchesOf('', () => {
        candidate = tf.tidy(() => {
          const { q: rotated, cache } = rotateIntoCache(q, k, v, past, tables);
          return [rotated, cache.keys, cache.values];
        });
      });
      const together =
        ropeAppendBindings(true) <= storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
      assert.equal(dispatches, together ? 1 : 2, 'the queries in the dispatch where the device binds ten buffers');
      // The kernel without the queries, as on a device that binds eight.
      const apart = tf.engine().runKernel(ROPE_APPEND, {
        keys: k,
        values: v,
        pastKeys: past.keys,
        pastValues: past.values,
        cos: tables.cos,
        sin: tables.sin,
      }) as Tensor[];
      assert.equal(apart.length, 2);
      assert.deepEqual(
        candidate.map((t) => t.shape),
        reference.map((t) => t.shape),
      );
      const [expected, got, withoutQueries] = await Promise.all([reference, candidate, apart].map(read));
      ['q', 'keys', 'values'].forEach((label, i) => assert.deepEqual(got![i], expected![i], label));
      ['keys', 'values'].forEach((label, i) => assert.deepEqual(withoutQueries![i], expected![i + 1], label));
      tf.dispose([...all, ...reference, ...candidate, ...apart]);
      assert.equal(tf.memory().numTensors, before);
    });
  }
}

test('McevalRopeAppend names an input whose shape does not fit beside the keys', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { k, v, past, tables, all } = step(1, 8);
  const narrow = tf.zeros([BATCH, PAST, 8]);
  assert.throws(
    () =>
      tf.engine().runKernel(ROPE_APPEND, {
        keys: k,
        values: v,
        pastKeys: narrow,
        pastValues: past.values,
        cos: tables.cos,
        sin: tables.sin,
      }),
    /McevalRopeAppend: pastKeys \[2,3,8\] is not \[2,3,16\]/,
  );
  tf.dispose([...all, narrow]);
  assert.equal(tf.memory().numTensors, before);
});

/** Gradients in q, k, v and the past of a step with a cache, recorded for a backward pass. */
async function recordedGradients(backend: 'wasm' | 'webgpu'): Promise<{ arrays: number[][]; calls: number }> {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const { q, k, v, past, tables, all } = step(2, 8);
  const rng = new Rng(31);
  const cacheShape: [number, number, number] = [BATCH, PAST + 2, KEY_HEADS * 8];
  const dq = tf.tensor(rng.normalArray(q.size), q.shape);
  const [dKeys, dValues] = [0, 1].map(() =>
    tf.tensor3d(rng.normalArray(cacheShape.reduce((a, b) => a * b)), cacheShape),
  );
  const loss = (qi: Tensor, ki: Tensor, vi: Tensor, keys: Tensor, values: Tensor) => {
    const { q: rotated, cache } = rotateIntoCache(
      qi,
      ki,
      vi as Tensor3D,
      { keys: keys as Tensor3D, values: values as Tensor3D },
      tables,
    );
    return tf.addN([
      tf.sum(tf.mul(rotated, dq)),
      tf.sum(tf.mul(cache.keys, dKeys)),
      tf.sum(tf.mul(cache.values, dValues)),
    ]);
  };
  const { value, calls } = await withKernelCalls(ROPE_APPEND, async () =>
    tf.valueAndGrads(loss)([q, k, v, past.keys, past.values]),
  );
  const arrays = await read(value.grads);
  tf.dispose([...all, dq, dKeys, dValues, value.value, ...value.grads]);
  assert.equal(tf.memory().numTensors, before);
  return { arrays, calls };
}

test('a step with a cache recorded for a backward pass takes the ops, and its gradients agree with wasm', async () => {
  const reference = await recordedGradients('wasm');
  const candidate = await recordedGradients('webgpu');
  assert.equal(candidate.calls, 0, 'McevalRopeAppend has no gradient: not called under a tape');
  ['dq', 'dk', 'dv', 'dPastKeys', 'dPastValues'].forEach((label, i) =>
    assertAgree(label, candidate.arrays[i]!, reference.arrays[i]!, 1e-5),
  );
});
