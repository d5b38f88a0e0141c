/**
 * A decoding step's RoPE and KV cache by McevalRopeAppend (engine/kernels/webgpu/rope-append.ts, through
 * rotateIntoCache in models/layers/rope.ts) against the ops it replaces on the same backend — applyRopePair and two
 * concatenations — bit for bit: four query heads and two key heads, three past positions, one and two new ones, head
 * sizes 8 and 64, with the queries in the dispatch and apart. A cache made with room for later steps holds the ops'
 * rows and zeros after them; a step writes its rows into it (the same buffer, no other dispatch, the pool not grown)
 * unless another tensor holds it or it has no room, where the past is copied and left as it was. A step recorded for a
 * backward pass takes the ops, and its gradients agree with wasm's (1e-5 of the largest value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor3D } from '../../src/engine/tf.js';
import {
  applyRopePair,
  ropeInverseFrequencies,
  ropeTables,
  rotateIntoCache,
  type HeldKeysAndValues,
  type RopeTables,
} from '../../src/models/layers/rope.js';
import { ROPE_APPEND, ropeAppendBindings, type RopeAppendAttrs } from '../../src/engine/kernels/webgpu/rope-append.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { dispatchesOf, withKernelCalls } from './dispatches.js';
import { assertAgree } from './agreement.js';

const [BATCH, PAST, QUERY_HEADS, KEY_HEADS] = [2, 3, 4, 2];

interface Step {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor3D;
  readonly past: HeldKeysAndValues;
  readonly tables: RopeTables;
  readonly all: Tensor[];
}

/** A step's inputs from a seeded generator: positions continue each row's `held` past ones. */
function step(length: number, headDim: number, held = PAST, seed = 29): Step {
  const rng = new Rng(seed + length);
  const width = KEY_HEADS * headDim;
  const positions = Int32Array.from({ length: BATCH * length }, (_, i) => held + (i % length));
  const tables = ropeTables(positions, BATCH, length, ropeInverseFrequencies(headDim, 10000));
  const q = tf.tensor4d(rng.normalArray(BATCH * length * QUERY_HEADS * headDim), [BATCH, length, QUERY_HEADS, headDim]);
  const k = tf.tensor4d(rng.normalArray(BATCH * length * width), [BATCH, length, KEY_HEADS, headDim]);
  const v = tf.tensor3d(rng.normalArray(BATCH * length * width), [BATCH, length, width]);
  const past = {
    keys: tf.tensor3d(rng.normalArray(BATCH * held * width), [BATCH, held, width]),
    values: tf.tensor3d(rng.normalArray(BATCH * held * width), [BATCH, held, width]),
    length: held,
  };
  return { q, k, v, past, tables, all: [q, k, v, past.keys, past.values, tables.cos, tables.sin, tables.rotation] };
}

const read = (tensors: readonly Tensor[]) => Promise.all(tensors.map(async (t) => Array.from(await t.data())));

/** The ops' rotated queries and cache (past's first `held` positions, then the new ones). */
function byOps(s: Step, past?: { keys: Tensor3D; values: Tensor3D; held: number }): Tensor[] {
  return tf.tidy(() => {
    const [rotatedQ, rotatedK] = applyRopePair(s.q, s.k, s.tables);
    const keys = tf.reshape(rotatedK, s.v.shape);
    if (past === undefined) return [rotatedQ, keys, tf.clone(s.v)];
    const held = (t: Tensor3D) => tf.slice(t, [0, 0, 0], [-1, past.held, -1]);
    return [rotatedQ, tf.concat([held(past.keys), keys], 1), tf.concat([held(past.values), s.v], 1)];
  });
}

/** A cache's first `positions` positions and the rest, per batch row. */
async function split(cache: Tensor, positions: number): Promise<{ held: number[]; room: number[] }> {
  const [batch, capacity, width] = cache.shape as [number, number, number];
  const values = Array.from(await cache.data());
  const held: number[] = [];
  const room: number[] = [];
  for (let b = 0; b < batch; b++) {
    const row = values.slice(b * capacity * width, (b + 1) * capacity * width);
    held.push(...row.slice(0, positions * width));
    room.push(...row.slice(positions * width));
  }
  return { held, room };
}

const devicePlaces = () => storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);

for (const headDim of [8, 64]) {
  for (const length of [1, 2]) {
    test(`McevalRopeAppend gives the ops' queries and cache bit for bit: head size ${headDim}, ${length} new`, async () => {
      await initEngine('webgpu');
      assert.ok(tf.getKernel(ROPE_APPEND, 'webgpu'), 'the webgpu kernel is registered');
      const before = tf.memory().numTensors;
      const s = step(length, headDim);
      const reference = byOps(s, { ...s.past, held: PAST });
      let candidate: Tensor[] = [];
      // The past has no room: it is copied.
      const dispatches = dispatchesOf('', () => {
        candidate = tf.tidy(() => {
          const { q: rotated, cache } = rotateIntoCache(s.q, s.k, s.v, s.past, s.tables);
          return [rotated, cache.keys, cache.values];
        });
      });
      const together = ropeAppendBindings(true, true) <= devicePlaces();
      assert.equal(dispatches, together ? 1 : 2, 'the queries in the dispatch where the device binds ten buffers');
      // The kernel without the queries.
      const attrs: RopeAppendAttrs = { past: PAST, capacity: PAST + length };
      const apart = tf.engine().runKernel(
        ROPE_APPEND,
        {
          keys: s.k,
          values: s.v,
          pastKeys: s.past.keys,
          pastValues: s.past.values,
          cos: s.tables.cos,
          sin: s.tables.sin,
        },
        attrs as unknown as NamedAttrMap,
      ) as Tensor[];
      assert.equal(apart.length, 2);
      assert.deepEqual(
        candidate.map((t) => t.shape),
        reference.map((t) => t.shape),
      );
      const [expected, got, withoutQueries] = await Promise.all([reference, candidate, apart].map(read));
      ['q', 'keys', 'values'].forEach((label, i) => assert.deepEqual(got![i], expected![i], label));
      ['keys', 'values'].forEach((label, i) => assert.deepEqual(withoutQueries![i], expected![i + 1], label));
      tf.dispose([...s.all, ...reference, ...candidate, ...apart]);
      assert.equal(tf.memory().numTensors, before);
    });
  }
}

test('a cache made with room holds the ops rows and zeros; later steps write into its buffers', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const gpu = tf.backend() as unknown as WebGpuBackendLike & { bufferManager: { numBytesAllocated: number } };
  const [headDim, prompt, capacity] = [8, 3, 7];
  // The prompt's pass: no past, room for `capacity` positions.
  const first = step(prompt, headDim, 0);
  const firstReference = byOps(first);
  let made: Tensor[] = [];
  const firstDispatches = dispatchesOf('', () => {
    made = tf.tidy(() => {
      const { q: rotated, cache } = rotateIntoCache(first.q, first.k, first.v, undefined, first.tables, capacity);
      return [rotated, cache.keys, cache.values];
    });
  });
  assert.equal(firstDispatches, 1, 'queries, keys and values in one dispatch (eight buffers)');
  assert.deepEqual(made[1]!.shape, [BATCH, capacity, KEY_HEADS * headDim]);
  const [firstExpected, firstQueries] = await Promise.all([read(firstReference), read([made[0]!])]);
  assert.deepEqual(firstQueries[0], firstExpected[0], 'q');
  for (const i of [1, 2]) {
    const { held, room } = await split(made[i]!, prompt);
    assert.deepEqual(held, firstExpected[i], `the prompt's ${i === 1 ? 'keys' : 'values'}`);
    assert.ok(
      room.every((x) => x === 0),
      'zeros after them',
    );
  }
  // Decoding steps: each writes its position into the same buffers.
  let cache = { keys: made[1] as Tensor3D, values: made[2] as Tensor3D };
  let expectedKeys = firstReference[1] as Tensor3D;
  let expectedValues = firstReference[2] as Tensor3D;
  tf.dispose([made[0]!, ...first.all, firstReference[0]!]);
  const buffers = (c: { keys: Tensor; values: Tensor }) =>
    [c.keys, c.values].map(
      (t) =>
        (gpu as unknown as { tensorMap: { get(id: object): { resource: unknown } } }).tensorMap.get(t.dataId).resource,
    );
  const firstBuffers = buffers(cache);
  for (let held = prompt; held < capacity; held++) {
    const s = step(1, headDim, held, 41);
    const reference = byOps(s, { keys: expectedKeys, values: expectedValues, held });
    let next: Tensor[] = [];
    const pooled = gpu.bufferManager.numBytesAllocated;
    const dispatches = dispatchesOf('', () => {
      next = tf.tidy(() => {
        const { q: rotated, cache: extended } = rotateIntoCache(s.q, s.k, s.v, { ...cache, length: held }, s.tables);
        return [rotated, extended.keys, extended.values];
      });
    });
    assert.equal(dispatches, 1, `step at ${held}: one dispatch`);
    // The first step may add the pool's buffers for a step's queries; no later one adds any.
    if (held > prompt) assert.equal(gpu.bufferManager.numBytesAllocated, pooled, `step at ${held}: no new buffer`);
    tf.dispose([cache.keys, cache.values]);
    cache = { keys: next[1] as Tensor3D, values: next[2] as Tensor3D };
    assert.deepEqual(buffers(cache), firstBuffers, `step at ${held}: the same buffers`);
    assert.deepEqual(cache.keys.shape, [BATCH, capacity, KEY_HEADS * headDim]);
    const [expected, queries] = await Promise.all([read(reference), read([next[0]!])]);
    assert.deepEqual(queries[0], expected[0], `step at ${held}: q`);
    for (const i of [1, 2]) {
      const { held: rows, room } = await split(next[i]!, held + 1);
      assert.deepEqual(rows, expected[i], `step at ${held}: ${i === 1 ? 'keys' : 'values'}`);
      assert.ok(
        room.every((x) => x === 0),
        'zeros after them',
      );
    }
    tf.dispose([expectedKeys, expectedValues, reference[0]!, next[0]!, ...s.all]);
    [expectedKeys, expectedValues] = [reference[1] as Tensor3D, reference[2] as Tensor3D];
  }
  tf.dispose([cache.keys, cache.values, expectedKeys, expectedValues]);
  assert.equal(tf.memory().numTensors, before);
});

for (const why of ['another tensor holds it', 'it has no room'] as const) {
  test(`a step copies the past, leaving it as it was, where ${why}`, async () => {
    await initEngine('webgpu');
    const before = tf.memory().numTensors;
    const headDim = 8;
    const width = KEY_HEADS * headDim;
    const stored = why === 'it has no room' ? PAST + 1 : PAST + 3;
    const rng = new Rng(43);
    // A cache of `stored` positions whose first PAST hold keys.
    const past = {
      keys: tf.tensor3d(rng.normalArray(BATCH * stored * width), [BATCH, stored, width]),
      values: tf.tensor3d(rng.normalArray(BATCH * stored * width), [BATCH, stored, width]),
      length: PAST,
    };
    const holder = why === 'another tensor holds it' ? tf.reshape(past.keys, [-1]) : undefined;
    const s = step(2, headDim);
    const pastBefore = await read([past.keys, past.values]);
    const reference = byOps(s, { ...past, held: PAST });
    const got = tf.tidy(() => {
      const { q: rotated, cache } = rotateIntoCache(s.q, s.k, s.v, past, s.tables);
      return [rotated, cache.keys, cache.values];
    });
    const capacity = Math.max(stored, PAST + 2);
    assert.deepEqual(got[1]!.shape, [BATCH, capacity, width], 'the room kept where it fits');
    assert.notEqual(got[1]!.dataId, past.keys.dataId);
    const [expected, queries] = await Promise.all([read(reference), read([got[0]!])]);
    assert.deepEqual(queries[0], expected[0]);
    for (const i of [1, 2]) {
      const { held, room } = await split(got[i]!, PAST + 2);
      assert.deepEqual(held, expected[i]);
      assert.ok(room.every((x) => x === 0));
    }
    assert.deepEqual(await read([past.keys, past.values]), pastBefore, 'the past as it was');
    tf.dispose([...s.all, past.keys, past.values, ...(holder ? [holder] : []), ...reference, ...got]);
    assert.equal(tf.memory().numTensors, before);
  });
}

test('McevalRopeAppend names an input that does not fit beside the keys', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const s = step(1, 8);
  const narrow = tf.zeros([BATCH, PAST, 8]);
  const run = (inputs: Record<string, Tensor>, attrs: RopeAppendAttrs) =>
    tf
      .engine()
      .runKernel(
        ROPE_APPEND,
        { keys: s.k, values: s.v, cos: s.tables.cos, sin: s.tables.sin, ...inputs },
        attrs as unknown as NamedAttrMap,
      );
  assert.throws(
    () => run({ pastKeys: narrow, pastValues: s.past.values }, { past: PAST, capacity: PAST + 1 }),
    /McevalRopeAppend: pastKeys \[2,3,8\] is not \[2,3,16\]/,
  );
  assert.throws(
    () => run({ pastKeys: s.past.keys, pastValues: s.past.values }, { past: PAST, capacity: PAST }),
    /McevalRopeAppend: capacity 3 is less than 3 past \+ 1 new/,
  );
  assert.throws(
    () => run({ pastKeys: s.past.keys, pastValues: s.past.values }, { past: PAST + 1, capacity: PAST + 2 }),
    /McevalRopeAppend: past 4 is more than the 3 stored/,
  );
  assert.throws(() => run({ pastKeys: s.past.keys }, { past: PAST, capacity: PAST + 1 }), /go together/);
  tf.dispose([...s.all, narrow]);
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
      { keys: keys as Tensor3D, values: values as Tensor3D, length: PAST },
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
