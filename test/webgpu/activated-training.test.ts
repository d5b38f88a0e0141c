/**
 * A trained layer that reads an activation of its input reads it inside its kernels on webgpu
 * (engine/ops/activated-low-rank-linear.ts): a decoder's down projections SwiGLU's gating, an encoder's output
 * projections GELU. LoRA (with the presets' dropout and without) and MonteCLoRA steps on builtin:tiny, and on a tiny
 * RoBERTa classifier, have the same losses, bit for bit, as with the activation formed first
 * (MCEVAL_WEBGPU_ACTIVATIONS=apart), call neither the activation's kernel nor its gradient's, and record two
 * dispatches fewer per layer — with the narrow products inside the products where the device binds the inline input
 * gradient's buffers (SwiGLU's nine: at WebGPU's default eight the gating is formed first, as before), and with them
 * apart (MCEVAL_WEBGPU_INLINE_NARROW=never; eight buffers at most), and at 1 × 8 tokens, whose forward products run
 * on the few-rows shader. DoRA's layers under its dropout read it inside too, split at their dropout with their rests
 * alongside (activated-split-linear.ts), and form it first with their rests apart. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import type { Method } from '../../bench/gpu/step-methods.js';
import type { Model } from '../../src/models/model.js';
import { SWIGLU, SWIGLU_GRAD } from '../../src/engine/kernels/webgpu/swiglu.js';
import { GELU, GELU_GRAD } from '../../src/engine/kernels/webgpu/gelu.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { withEnv } from '../helpers.js';
import { tinyEncoder } from '../tiny-encoder.js';
import { dispatchesOf, withKernelCallCounts } from './dispatches.js';
import { withTinySteps } from './tiny-steps.js';

interface Steps {
  readonly losses: number[];
  /** The activation's kernel and its gradient's calls over the two steps counted. */
  readonly activations: number;
  readonly dispatches: number;
  readonly layers: number;
}

/** A model of each kind: its maker and the activation its feed-forward layers read. */
const MODELS = [
  { label: 'builtin:tiny', made: undefined, kernels: [SWIGLU, SWIGLU_GRAD], buffers: 9 },
  {
    label: 'a tiny RoBERTa',
    made: (): Model => tinyEncoder('roberta', { seed: 2 }),
    kernels: [GELU, GELU_GRAD],
    buffers: 7,
  },
] as const;

type Made = (typeof MODELS)[number];

/** Three steps of `method` on `tokens`: the losses, and the last two steps' activation calls and dispatches. */
const steps = (method: Method, { made, kernels }: Made, tokens?: readonly [number, number]): Promise<Steps> =>
  withTinySteps(
    method,
    async (run, model) => {
      const first = await run.step();
      let dispatches = 0;
      const { value, calls } = await withKernelCallCounts([...kernels], async () => {
        const losses: number[] = [];
        for (let step = 0; step < 2; step++) {
          let finished: Promise<number> | undefined;
          dispatches += dispatchesOf('', () => (finished = run.step()));
          losses.push(await finished!);
        }
        return losses;
      });
      return {
        losses: [first, ...value],
        activations: calls[kernels[0]]! + calls[kernels[1]]!,
        dispatches: dispatches / 2,
        layers: model.config.numHiddenLayers,
      };
    },
    made,
    tokens,
  );

/**
 * Whether the device binds the inline input gradient's storage buffers: dy, W, B, A′, t and the output, with SwiGLU's
 * gate, up and dUp (nine) or GELU's input (seven).
 */
const bindsInlineGradient = (buffers: number) =>
  storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= buffers;

// MCEVAL_WEBGPU_INLINE_NARROW: the products with their narrow products inside them, and by dispatches of their own.
for (const model of MODELS)
  for (const inline of ['auto', 'never'] as const)
    for (const method of ['lora', 'lora-dropout', 'monteclora'] as const)
      test(`${model.label}, ${method}, narrow products ${inline === 'auto' ? 'inside' : 'apart'}: the same loss bits without the activation's dispatches`, () =>
        withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, async () => {
          const inside = await steps(method, model);
          const apart = await withEnv('MCEVAL_WEBGPU_ACTIVATIONS', 'apart', () => steps(method, model));
          assert.deepEqual(inside.losses, apart.losses);
          assert.equal(apart.activations, 2 * 2 * apart.layers, 'apart: the activation and its gradient, each layer');
          // With the narrow products by dispatches of their own, a product binds eight buffers at most: the default.
          const read = inline === 'never' || bindsInlineGradient(model.buffers);
          assert.equal(inside.activations, read ? 0 : apart.activations);
          assert.equal(inside.dispatches, apart.dispatches - (read ? 2 * inside.layers : 0));
        }));

// DoRA under its preset's dropout: each layer split at its dropout, its rest alongside and its scaling inside
// (activated-split-linear.ts), where the device binds the forward's eleven buffers (gate, up, W, A′, B, t, the output,
// the dropped part, m, the norms and the residual; GELU's: its input, the bias and the residual, also eleven); with its
// rests apart, the activation is formed first.
for (const model of MODELS)
  for (const rests of ['alongside', 'apart'] as const)
    test(`${model.label}, DoRA with dropout, rests ${rests}: the same loss bits, the activation read inside where the rests go alongside`, () =>
      withEnv('MCEVAL_WEBGPU_RESTS', rests, async () => {
        const inside = await steps('dora', model);
        const apart = await withEnv('MCEVAL_WEBGPU_ACTIVATIONS', 'apart', () => steps('dora', model));
        assert.deepEqual(inside.losses, apart.losses);
        assert.equal(apart.activations, 2 * 2 * apart.layers, 'apart: the activation and its gradient, each layer');
        const read = rests === 'alongside' && bindsInlineGradient(11);
        assert.equal(inside.activations, read ? 0 : apart.activations);
        assert.equal(inside.dispatches, apart.dispatches - (read ? 2 * inside.layers : 0));
      }));

// 1 × 8 tokens: without dropout, the forward products run on the few-rows shader, which reads the activation too.
for (const model of MODELS)
  test(`${model.label}, lora, 1 × 8 tokens (few rows): the same loss bits without the activation's dispatches`, async () => {
    const inside = await steps('lora', model, [1, 8]);
    const apart = await withEnv('MCEVAL_WEBGPU_ACTIVATIONS', 'apart', () => steps('lora', model, [1, 8]));
    assert.deepEqual(inside.losses, apart.losses);
    const read = bindsInlineGradient(model.buffers);
    assert.equal(inside.activations, read ? 0 : apart.activations);
    assert.equal(inside.dispatches, apart.dispatches - (read ? 2 * inside.layers : 0));
  });
