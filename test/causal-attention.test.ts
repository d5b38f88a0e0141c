/**
 * The WebAssembly attention kernels against the composite path (tfjs matMul, softmax, additive bias, autodiff), with
 * and without dropout of the probabilities (the composite path multiplies them by the hashed [B, H, T, S] mask), and
 * the layers whose gradients are written out (RMSNorm, RoPE, SwiGLU) against autodiff of their plain ops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor3D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import {
  AttentionMask,
  selfAttention,
  compositeAttention,
  fusedAttention,
} from '../src/models/layers/causal-attention.js';
import { rmsNorm, rmsNormPassing } from '../src/models/layers/rms-norm.js';
import { swiGlu } from '../src/models/layers/swiglu.js';
import { applyRope, ropeTables } from '../src/models/layers/rope.js';
import { frozenLinear } from '../src/engine/ops/linear.js';
import { maxAbsDifference, onEachBackend } from './helpers.js';
import { drawKey } from '../src/engine/counter-hash.js';
import { keepThreshold, type HashedDropout } from '../src/engine/dropout-bits.js';

const rng = new Rng(2024);
const random = (shape: number[], scale = 1) =>
  tf.tensor(
    rng.normalArray(
      shape.reduce((a, b) => a * b, 1),
      0,
      scale,
    ),
    shape,
  );

/** Relative max difference of two tensors' values. */
function relative(a: Tensor, b: Tensor): number {
  const expected = b.dataSync();
  const scale = Math.max(1e-12, ...Array.from(expected, Math.abs));
  return maxAbsDifference(a.dataSync(), expected) / scale;
}

interface Case {
  readonly name: string;
  readonly batch: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly queries: number;
  /** Past keys before the queries (a KV cache or a soft prompt). */
  readonly past: number;
  /** Padded keys per batch row: leading, or trailing (an encoder's right padding). */
  readonly padding: readonly number[];
  readonly trailing?: boolean;
  /** False: every query sees every real key (an encoder). */
  readonly causal?: boolean;
}

const CASES: Case[] = [
  {
    name: 'grouped heads, left padding (fully masked rows)',
    batch: 3,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    queries: 9,
    past: 0,
    padding: [0, 2, 5],
  },
  {
    name: 'one head per KV head, head size 12, no padding',
    batch: 2,
    heads: 2,
    kvHeads: 2,
    headDim: 12,
    queries: 7,
    past: 0,
    padding: [0, 0],
  },
  {
    name: 'past keys (a cache) and padding',
    batch: 2,
    heads: 4,
    kvHeads: 1,
    headDim: 4,
    queries: 5,
    past: 6,
    padding: [1, 3],
  },
  {
    name: 'one new token against a cache',
    batch: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    queries: 1,
    past: 11,
    padding: [0, 4],
  },
  // Left padding of 8 keys or more: a decoding step's forward leaves out its whole blocks of 8 (assembly/attention.ts's
  // skippedKeys); the rows padded by fewer, and the prompt's rows, keep every key.
  {
    name: 'one new token against a cache, left padding past blocks of 8',
    batch: 3,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    queries: 1,
    past: 30,
    padding: [0, 9, 21],
  },
  {
    name: 'several new tokens against a cache, left padding past blocks of 8',
    batch: 2,
    heads: 2,
    kvHeads: 1,
    headDim: 8,
    queries: 3,
    past: 20,
    padding: [17, 8],
  },
  {
    name: 'a prompt left-padded past a block of 8 (fully masked rows: no key left out)',
    batch: 2,
    heads: 2,
    kvHeads: 1,
    headDim: 8,
    queries: 12,
    past: 0,
    padding: [10, 3],
  },
  {
    name: 'bidirectional, left padding past a block of 8',
    batch: 2,
    heads: 2,
    kvHeads: 2,
    headDim: 8,
    queries: 12,
    past: 0,
    padding: [9, 0],
    causal: false,
  },
  {
    name: 'bidirectional (an encoder), right padding',
    batch: 3,
    heads: 2,
    kvHeads: 2,
    headDim: 8,
    queries: 11,
    past: 0,
    padding: [0, 3, 7],
    trailing: true,
    causal: false,
  },
  {
    name: 'bidirectional, left padding, grouped heads, head size 12',
    batch: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 12,
    queries: 6,
    past: 0,
    padding: [2, 0],
    causal: false,
  },
];

/** A drawn dropout of the probabilities, one in four dropped (engine/ops/dropout.ts's draw, fixed here). */
const DROPOUT: HashedDropout = { key: drawKey(77), threshold: keepThreshold(0.75), scale: 1 / 0.75 };

onEachBackend(() => {
  for (const [c, dropout] of CASES.flatMap((c) => [[c, undefined] as const, [c, DROPOUT] as const])) {
    const dropped = dropout === undefined ? '' : ', probabilities dropped';
    test(`attention kernels equal the composite path and its autodiff gradient: ${c.name}${dropped}`, () => {
      const keys = c.past + c.queries;
      const keyMask = new Int32Array(c.batch * keys).map((_, i) => {
        const pad = c.padding[Math.floor(i / keys)]!;
        return (c.trailing === true ? i % keys >= keys - pad : i % keys < pad) ? 0 : 1;
      });
      const mask = new AttentionMask(keyMask, c.batch, c.queries, keys, c.causal ?? true);
      const heads = { query: c.heads, keyValue: c.kvHeads };
      const q = random([c.batch, c.queries, c.heads * c.headDim], 2) as Tensor3D;
      const k = random([c.batch, keys, c.kvHeads * c.headDim], 2) as Tensor3D;
      const v = random([c.batch, keys, c.kvHeads * c.headDim]) as Tensor3D;
      const upstream = random([c.batch, c.queries, c.heads * c.headDim]);
      const before = tf.memory().numTensors;
      const [fused, composite] = [fusedAttention, compositeAttention].map((attend) =>
        tf.tidy(() => {
          const loss = (a: Tensor, b: Tensor, d: Tensor) =>
            tf.sum(tf.mul(attend(a as Tensor3D, b as Tensor3D, d as Tensor3D, mask, heads, dropout), upstream));
          return [attend(q, k, v, mask, heads, dropout), ...tf.grads(loss)([q, k, v])];
        }),
      );
      fused!.forEach((tensor, i) => assert.ok(relative(tensor, composite![i]!) < 2e-5, `output/gradient ${i}`));
      // The same path is chosen for real use on this backend.
      const chosen = selfAttention(q, k, v, mask, heads, dropout);
      assert.equal(maxAbsDifference(chosen.dataSync(), fused![0]!.dataSync()), 0);
      if (dropout !== undefined) {
        // The mask is applied: the output is not the undropped one.
        const kept = tf.tidy(() => fusedAttention(q, k, v, mask, heads));
        assert.ok(maxAbsDifference(kept.dataSync(), chosen.dataSync()) > 1e-2);
        kept.dispose();
      }
      if (c.causal === false && dropout === undefined) {
        // Bidirectional means it: the first query reads later keys, so its output is not the causal one.
        const causalMask = new AttentionMask(keyMask, c.batch, c.queries, keys, true);
        const causal = tf.tidy(() => fusedAttention(q, k, v, causalMask, heads));
        assert.ok(maxAbsDifference(causal.dataSync(), chosen.dataSync()) > 1e-2);
        causal.dispose();
      }
      [...fused!, ...composite!, chosen].forEach((t) => t.dispose());
      mask.additiveBias().dispose();
      assert.equal(tf.memory().numTensors, before);
      [q, k, v, upstream].forEach((t) => t.dispose());
    });
  }

  test('RMSNorm, RoPE and SwiGLU: written-out gradients equal autodiff of the same ops', () => {
    const x = random([2, 5, 3, 8]);
    const weight = tf.variable(random([8]), true);
    const upstream = random([2, 5, 3, 8]);
    const plainNorm = (input: Tensor, w: Tensor) =>
      tf.mul(tf.mul(input, tf.rsqrt(tf.add(tf.mean(tf.square(input), -1, true), 1e-5))), w);
    const weigh = (f: (a: Tensor, b: Tensor) => Tensor) => (a: Tensor, b: Tensor) => tf.sum(tf.mul(f(a, b), upstream));
    const norms = [
      tf.grads(weigh((a, b) => rmsNorm(a, b as tf.Variable, 1e-5)))([x, weight]),
      tf.grads(weigh(plainNorm))([x, weight]),
    ];
    norms[0]!.forEach((g, i) => assert.ok(relative(g, norms[1]![i]!) < 1e-5, `rmsNorm gradient ${i}`));
    assert.equal(maxAbsDifference(rmsNorm(x, weight, 1e-5).dataSync(), plainNorm(x, weight).dataSync()), 0);

    // The residual stream passed through the norm: its gradient the same bits as a stream read twice (the norm and
    // the residual addition), trainable weight included.
    const further = random([2, 5, 3, 8]);
    const passing = tf.grads((a: Tensor, b: Tensor) => {
      const [normed, passed] = rmsNormPassing(a, b as tf.Variable, 1e-5);
      return tf.add(tf.sum(tf.mul(normed, upstream)), tf.sum(tf.mul(passed, further)));
    })([x, weight]);
    const readTwice = tf.grads((a: Tensor, b: Tensor) =>
      tf.add(tf.sum(tf.mul(rmsNorm(a, b as tf.Variable, 1e-5), upstream)), tf.sum(tf.mul(a, further))),
    )([x, weight]);
    passing.forEach((g, i) =>
      assert.equal(maxAbsDifference(g.dataSync(), readTwice[i]!.dataSync()), 0, `passing ${i}`),
    );

    const positions = new Int32Array(10).map((_, i) => (i % 5) + 3);
    const frequencies = Float64Array.from({ length: 4 }, (_, i) => 1 / 10000 ** ((2 * i) / 8));
    const tables = ropeTables(positions, 2, 5, frequencies);
    const plainRope = (input: Tensor) =>
      tf.add(tf.mul(input, tables.cos), tf.mul(frozenLinear(input, tables.rotation), tables.sin));
    const ropeGrads = [applyRope, plainRope].map((f) =>
      tf.grad((a: Tensor) => tf.sum(tf.mul(f(a, tables), upstream)))(x),
    );
    assert.ok(relative(ropeGrads[0]!, ropeGrads[1]!) < 1e-5);

    const gate = random([4, 6]);
    const up = random([4, 6]);
    const dy = random([4, 6]);
    const plainGlu = (g: Tensor, u: Tensor) => tf.mul(tf.mul(g, tf.sigmoid(g)), u);
    const gluGrads = [swiGlu, plainGlu].map((f) =>
      tf.grads((g: Tensor, u: Tensor) => tf.sum(tf.mul(f(g, u), dy)))([gate, up]),
    );
    gluGrads[0]!.forEach((g, i) => assert.ok(relative(g, gluGrads[1]![i]!) < 1e-5, `swiGlu gradient ${i}`));
    tf.dispose([
      x,
      weight,
      upstream,
      tables.cos,
      tables.sin,
      tables.rotation,
      gate,
      up,
      dy,
      ...norms.flat(),
      ...ropeGrads,
      ...gluGrads.flat(),
    ]);
  });
});

test('on wasm, a clone shares its buffer and outlives the original', async () => {
  const { initEngine } = await import('../src/engine/backends.js');
  await initEngine('wasm');
  const backend = tf.backend() as unknown as { getMemoryOffset(dataId: object): number };
  const original = tf.tensor([1, 2, 3]);
  const before = tf.memory().numTensors;
  const copy = tf.clone(original);
  // The copying kernel would have placed the clone at a new offset in the heap.
  assert.equal(backend.getMemoryOffset(copy.dataId), backend.getMemoryOffset(original.dataId));
  original.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3]);
  copy.dispose();
  assert.equal(tf.memory().numTensors, before - 1);
});
