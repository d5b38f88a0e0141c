/**
 * Attention over a KV cache with room for later steps (models/layers/rope.ts): k and v hold more positions than the
 * key mask covers, the rest not yet written. The webgpu kernel attends to the mask's keys only, reading the cache at
 * its own stride: the same bits as over k and v cut to those keys, with NaN in the room (read, it would show), for a
 * decoding step (one query) and a prompt's pass, over one key tile and several. The ops' path (a head size not a
 * multiple of 4) cuts the room off; the gradient kernel and the WebAssembly kernels, which read every position of k,
 * refuse it by one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor3D } from '../../src/engine/tf.js';
import { AttentionMask, fusedAttention, selfAttention } from '../../src/models/layers/causal-attention.js';
import { CAUSAL_ATTENTION, CAUSAL_ATTENTION_GRAD } from '../../src/engine/kernels/causal-attention.js';

interface Case {
  readonly queries: number;
  readonly keys: number;
  readonly room: number;
  readonly headDim: number;
}

const [BATCH, HEADS, KV_HEADS] = [2, 4, 2];

/** q, k and v cut to the mask's keys, and k and v with `room` positions of NaN after them. */
function inputs(c: Case): {
  q: Tensor3D;
  k: Tensor3D;
  v: Tensor3D;
  roomyK: Tensor3D;
  roomyV: Tensor3D;
  mask: AttentionMask;
} {
  const rng = new Rng(17);
  const width = KV_HEADS * c.headDim;
  const q = tf.tensor3d(rng.normalArray(BATCH * c.queries * HEADS * c.headDim), [BATCH, c.queries, HEADS * c.headDim]);
  const [k, v] = [0, 1].map(() => tf.tensor3d(rng.normalArray(BATCH * c.keys * width), [BATCH, c.keys, width]));
  const room = tf.fill([BATCH, c.room, width], NaN);
  const [roomyK, roomyV] = [k, v].map((t) => tf.concat([t!, room], 1) as Tensor3D);
  room.dispose();
  // The second row's first three keys are padding.
  const keyMask = new Int32Array(BATCH * c.keys).fill(1).fill(0, c.keys, c.keys + 3);
  return {
    q,
    k: k!,
    v: v!,
    roomyK: roomyK!,
    roomyV: roomyV!,
    mask: new AttentionMask(keyMask, BATCH, c.queries, c.keys),
  };
}

const heads = { query: HEADS, keyValue: KV_HEADS };

for (const c of [
  { queries: 1, keys: 9, room: 6, headDim: 8 },
  { queries: 1, keys: 70, room: 30, headDim: 64 },
  { queries: 5, keys: 5, room: 11, headDim: 16 },
]) {
  test(`webgpu attention over a cache with room is the same bits: T ${c.queries}, S ${c.keys} + ${c.room}, dh ${c.headDim}`, async () => {
    await initEngine('webgpu');
    const before = tf.memory().numTensors;
    const { q, k, v, roomyK, roomyV, mask } = inputs(c);
    const [cut, roomy] = [
      [k, v],
      [roomyK, roomyV],
    ].map(([ki, vi]) => tf.tidy(() => fusedAttention(q, ki!, vi!, mask, heads)));
    const [expected, got] = await Promise.all([cut!, roomy!].map(async (t) => Array.from(await t.data())));
    assert.ok(expected!.every(Number.isFinite));
    assert.deepEqual(got, expected);
    tf.dispose([q, k, v, roomyK, roomyV, cut!, roomy!]);
    assert.equal(tf.memory().numTensors, before);
  });
}

test('the ops path cuts a cache room off; the gradient kernel refuses it by one line', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  // Head size 6: no kernel, the ops' path.
  const { q, k, v, roomyK, roomyV, mask } = inputs({ queries: 1, keys: 7, room: 4, headDim: 6 });
  const [cut, roomy] = [
    [k, v],
    [roomyK, roomyV],
  ].map(([ki, vi]) =>
    // A mask per pass: the ops' path keeps its additive bias in it, made in the pass's tidy.
    tf.tidy(() => selfAttention(q, ki!, vi!, new AttentionMask(mask.keyMask, BATCH, 1, 7), heads)),
  );
  assert.deepEqual(Array.from(await roomy!.data()), Array.from(await cut!.data()));
  tf.dispose([q, k, v, roomyK, roomyV, cut!, roomy!]);
  const c = inputs({ queries: 1, keys: 9, room: 6, headDim: 8 });
  const attrs = { keyMask: c.mask.keyMask, heads: HEADS, kvHeads: KV_HEADS, scale: 1 / Math.sqrt(8), causal: true };
  const [out, lse] = tf.engine().runKernel(CAUSAL_ATTENTION, { q: c.q, k: c.roomyK, v: c.roomyV }, attrs) as Tensor[];
  assert.throws(
    () =>
      tf
        .engine()
        .runKernel(CAUSAL_ATTENTION_GRAD, { q: c.q, k: c.roomyK, v: c.roomyV, out: out!, lse: lse!, dy: out! }, attrs),
    /webgpu attention's gradient needs a key mask for each of k's keys/,
  );
  tf.dispose([out!, lse!]);
  tf.dispose([c.q, c.k, c.v, c.roomyK, c.roomyV]);
  assert.equal(tf.memory().numTensors, before);
});

test('the WebAssembly kernel refuses a cache with room by one line', async () => {
  await initEngine('wasm');
  const before = tf.memory().numTensors;
  const c = inputs({ queries: 1, keys: 9, room: 6, headDim: 8 });
  assert.throws(
    () => tf.tidy(() => fusedAttention(c.q, c.roomyK, c.roomyV, c.mask, heads)),
    /attention: a key mask of 18 does not cover k \[2,15,16\] position for position/,
  );
  tf.dispose([c.q, c.k, c.v, c.roomyK, c.roomyV]);
  assert.equal(tf.memory().numTensors, before);
});
