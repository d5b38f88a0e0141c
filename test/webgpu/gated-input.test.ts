/**
 * SwiGLU's gating read inside the down projection's product on webgpu (Linear.forwardGated; engine/ops/gated-input.ts,
 * engine/ops/activated-low-rank-linear.ts): outside training and off the tape, a low-rank layer
 * (McevalLowRankProductInline) and a plain frozen one (McevalMatrixProduct, the residual added inside) give the bits
 * of gating first and then forward, in one dispatch fewer and without McevalSwiGlu where the device binds the gated
 * product's buffers — a decoding step's 2 rows and a prompt's 74, with a bias and without, scaled per output column as
 * DoRA's are, vec4 loads and scalar ones; a plain trainable one (full fine-tuning's) off the tape as a frozen one; a
 * low-rank layer's narrow product apart (MCEVAL_WEBGPU_INLINE_NARROW=never) read gated too; with
 * MCEVAL_WEBGPU_ACTIVATIONS=apart, gating first everywhere. On the tape and in training a low-rank layer reads it
 * inside its own op's kernels (engine/ops/activated-low-rank-linear.ts, with test/webgpu/activated-training.test.ts),
 * with the gradients of gating first. Off the tape, an update with dropout is read gated too. No tensor is left
 * behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { madeLinear } from './made-linear.js';
import { swiGlu } from '../../src/models/layers/swiglu.js';
import { EVAL_CONTEXT } from '../../src/models/forward-context.js';
import { SWIGLU, SWIGLU_GRAD } from '../../src/engine/kernels/webgpu/swiglu.js';
import { activatedLowRankLinear } from '../../src/engine/ops/activated-low-rank-linear.js';
import { lowRankLinear } from '../../src/engine/ops/low-rank-linear.js';
import { drawKey } from '../../src/engine/counter-hash.js';
import { keepThreshold } from '../../src/engine/dropout-bits.js';
import { measuredForward, withKernelCallCounts, withKernelCalls } from './dispatches.js';
import { assertAgree } from './agreement.js';
import { withEnv } from '../helpers.js';
import { Linear } from '../../src/models/layers/linear.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';

interface LayerOptions {
  readonly rank?: number;
  readonly bias?: boolean;
  readonly scaled?: boolean;
}

interface Layer {
  readonly linear: Linear;
  readonly gate: Tensor;
  readonly up: Tensor;
  readonly residual: Tensor;
  readonly all: Tensor[];
}

/** A frozen layer reading [2, rows / 2, inner] and writing `outFeatures`, its inputs and a residual stream. */
function layer(rows: number, inner: number, outFeatures: number, options: LayerOptions): Layer {
  const rng = new Rng(41 + rows + inner);
  const { linear, tensors } = madeLinear(rng, [inner, outFeatures], options);
  const shape = [2, rows / 2, inner];
  const gate = tf.tensor(rng.normalArray(rows * inner, 0, 4), shape);
  const up = tf.tensor(rng.normalArray(rows * inner), shape);
  const residual = tf.tensor(rng.normalArray(rows * outFeatures), [2, rows / 2, outFeatures]);
  return { linear, gate, up, residual, all: [...tensors, gate, up, residual] };
}

/** A forward's values, compute dispatches and McevalSwiGlu calls. */
const measured = (body: () => Tensor) => measuredForward(SWIGLU, body);

/** `body` on a layer made on webgpu, its tensors freed after; no tensor is left behind. */
async function withLayer(
  [rows, inner, out]: readonly [number, number, number],
  options: LayerOptions,
  body: (made: Layer) => Promise<void>,
): Promise<void> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const made = layer(rows, inner, out, options);
  await body(made);
  tf.dispose(made.all);
  assert.equal(tf.memory().numTensors, before);
}

const CASES = [
  { label: 'a LoRA layer, a decoding step', rows: 2, inner: 64, out: 48, rank: 8 },
  { label: 'a LoRA layer with a bias, a prompt', rows: 74, inner: 96, out: 132, rank: 4, bias: true },
  { label: 'a DoRA-scaled layer, a decoding step', rows: 2, inner: 64, out: 48, rank: 8, scaled: true },
  { label: 'a DoRA-scaled layer with a bias', rows: 2, inner: 64, out: 48, rank: 8, bias: true, scaled: true },
  { label: 'a plain frozen layer, vec4 loads', rows: 64, inner: 64, out: 512 },
  { label: 'a plain frozen layer, scalar loads', rows: 64, inner: 30, out: 510 },
];

for (const { label, rows, inner, out, rank, bias, scaled } of CASES) {
  const options = { ...(rank === undefined ? {} : { rank }), bias: bias ?? false, scaled: scaled ?? false };
  test(`forwardGated reads the gating inside the product of ${label}: the same bits, a dispatch fewer`, () =>
    withLayer([rows, inner, out], options, async (made) => {
      const { linear, gate, up, residual } = made;
      const gated = await measured(() => linear.forwardGated(gate, up, EVAL_CONTEXT, residual));
      const formed = await measured(() => linear.forward(swiGlu(gate, up), EVAL_CONTEXT, residual));
      // Storage buffers of the gated product: gate, up, W, the output, the residual, and a low-rank layer's A, B, x·A
      // and bias. Where the device binds fewer (WebGPU's default 8 against 9 with a bias), the gating is formed first.
      // A column-scaled product binds neither bias nor residual: the scaling adds the residual, or the bias and the
      // residual follow it.
      const needed = rank === undefined ? 5 : scaled ? 7 : 8 + Number(bias ?? false);
      const read = needed <= storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
      const after = scaled ? (bias ? 3 : 1) : 0;
      assert.equal(gated.calls, read ? 0 : 1, 'McevalSwiGlu is called only where the gated product does not bind');
      assert.equal(formed.calls, 1);
      assert.equal(gated.dispatches, (read ? 1 : 2) + after, 'the gated layer is one dispatch');
      assert.equal(formed.dispatches, 2 + after);
      assert.deepEqual(gated.values, formed.values);
      // MCEVAL_WEBGPU_ACTIVATIONS=apart forms the gating first, whatever the layer.
      const apart = await withEnv('MCEVAL_WEBGPU_ACTIVATIONS', 'apart', () =>
        measured(() => linear.forwardGated(gate, up, EVAL_CONTEXT, residual)),
      );
      assert.equal(apart.calls, 1);
      assert.deepEqual(apart.values, formed.values);
    }));
}

// With the narrow product by a dispatch of its own (McevalNarrowProduct, then McevalLowRankProduct), both read the
// gating: the product binds gate, up, W, t, B, the bias, the residual and the output, eight at most.
for (const { label, rows, inner, out, rank, bias, scaled } of CASES.filter((c) => c.rank !== undefined))
  test(`forwardGated reads the gating inside the products of ${label}, the narrow product apart: the same bits`, () =>
    withEnv('MCEVAL_WEBGPU_INLINE_NARROW', 'never', () =>
      withLayer([rows, inner, out], { rank: rank!, bias: bias ?? false, scaled: scaled ?? false }, async (made) => {
        const { linear, gate, up, residual } = made;
        const gated = await measured(() => linear.forwardGated(gate, up, EVAL_CONTEXT, residual));
        const formed = await measured(() => linear.forward(swiGlu(gate, up), EVAL_CONTEXT, residual));
        assert.equal(gated.calls, 0);
        assert.equal(formed.calls, 1);
        assert.equal(gated.dispatches, formed.dispatches - 1);
        assert.deepEqual(gated.values, formed.values);
      }),
    ));

test('on the tape and in training a low-rank layer reads the gating inside its kernels, with the gradients of forward', () =>
  withLayer([2, 64, 48], { rank: 8 }, async ({ linear, gate, up, residual }) => {
    const gradients = async (body: (g: Tensor, u: Tensor) => Tensor) => {
      const { value, calls } = await withKernelCallCounts([SWIGLU, SWIGLU_GRAD], async () =>
        tf.valueAndGrads((g: Tensor, u: Tensor) => tf.sum(body(g, u)))([gate, up]),
      );
      const arrays = await Promise.all([value.value, ...value.grads].map(async (t) => Array.from(await t.data())));
      tf.dispose([value.value, ...value.grads]);
      return { arrays, calls: calls[SWIGLU]! + calls[SWIGLU_GRAD]! };
    };
    const gated = await gradients((g, u) => linear.forwardGated(g, u, EVAL_CONTEXT, residual));
    const formed = await gradients((g, u) => linear.forward(swiGlu(g, u), EVAL_CONTEXT, residual));
    // engine/ops/activated-low-rank-linear.ts: its input gradient binds dy, W, B, A, t, gate, up, dUp and dGate.
    const read = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= 9;
    assert.equal(gated.calls, read ? 0 : 2, 'McevalSwiGlu and its gradient run only where the device binds too few');
    assert.equal(formed.calls, 2);
    assert.deepEqual(gated.arrays, formed.arrays);
    const training = await withKernelCalls(SWIGLU, async () => {
      const y = tf.tidy(() => linear.forwardGated(gate, up, { training: true, rng: new Rng(1) }, residual));
      y.dispose();
    });
    // In training off the tape, the forward product alone: gate, up, W, A, B, t, the residual and the output.
    assert.equal(training.calls, 0, 'in training too');
  }));

test("a trainable plain layer (full fine-tuning's) reads the gating and residual inside off the tape, not on it", async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(47);
  const weight = tf.tidy(() => tf.variable(tf.tensor2d(rng.normalArray(64 * 48), [64, 48]), true));
  const linear = new Linear('layer', weight);
  const [gate, up] = [0, 1].map(() => tf.tensor(rng.normalArray(2 * 64, 0, 3), [2, 1, 64]));
  const residual = tf.tensor(rng.normalArray(2 * 48), [2, 1, 48]);
  const gated = await measured(() => linear.forwardGated(gate!, up!, EVAL_CONTEXT, residual));
  const plus = await measured(() => linear.forward(swiGlu(gate!, up!), EVAL_CONTEXT, residual));
  const composed = await measured(() => tf.add(residual, linear.baseForward(swiGlu(gate!, up!))));
  assert.equal(gated.calls, 0, 'the gating is read inside');
  assert.equal(gated.dispatches, 1, 'gating, product and residual in one dispatch');
  assert.equal(plus.dispatches, 2, 'the gating, then the product with the residual added inside');
  assert.equal(composed.dispatches, 3);
  assert.deepEqual(gated.values, plus.values);
  assertAgree('against tfjs', gated.values, composed.values, 1e-6);
  // On the tape W takes its gradient: the generic path.
  const { value, grads } = tf.variableGrads(
    () => tf.sum(linear.forwardGated(gate!, up!, EVAL_CONTEXT, residual)),
    [weight],
  );
  const dw = Array.from(await grads[weight.name]!.data());
  tf.dispose([value, grads[weight.name]!]);
  assert.ok(
    dw.some((g) => g !== 0),
    "W's gradient flows on the tape",
  );
  tf.dispose([weight, gate!, up!, residual]);
  assert.equal(tf.memory().numTensors, before);
});

test('off the tape an update with dropout reads the gating inside too, with the bits of gating first', () =>
  withLayer([2, 64, 48], { rank: 8 }, async ({ gate, up, residual, all }) => {
    const [weight, a, b] = all as [Tensor2D, Tensor2D, Tensor2D];
    const dropout = { key: drawKey(3), threshold: keepThreshold(0.9), scale: 1 / 0.9 };
    const update = { a, b, scaling: 2, dropout };
    const gated = await measured(() =>
      activatedLowRankLinear({ kind: 'swiglu', gate, up }, weight, undefined, update, residual)!,
    );
    const formed = await measured(() => lowRankLinear(swiGlu(gate, up), weight, undefined, update, residual));
    assert.equal(gated.calls, 0);
    assert.equal(gated.dispatches, formed.dispatches - 1);
    assert.deepEqual(gated.values, formed.values);
  }));
