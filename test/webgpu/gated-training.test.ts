/**
 * A decoder's down projection trained on webgpu reads SwiGLU's gating inside its kernels
 * (engine/ops/gated-low-rank-linear.ts): LoRA (with the presets' dropout and without) and MonteCLoRA steps on
 * builtin:tiny have the same losses, bit for bit, as with the gating formed first (MCEVAL_WEBGPU_GATING=apart), call
 * neither McevalSwiGlu nor McevalSwiGluGrad, and record two dispatches fewer per layer — with the narrow products
 * inside the products where the device binds the inline input gradient's nine storage buffers (at WebGPU's default
 * eight the gating is formed first, as before), and with them apart (MCEVAL_WEBGPU_INLINE_NARROW=never; eight buffers
 * at most). DoRA's column-scaled layers form it first either way. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import type { Method } from '../../bench/gpu/step-methods.js';
import { SWIGLU, SWIGLU_GRAD } from '../../src/engine/kernels/webgpu/swiglu.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { withEnv } from '../helpers.js';
import { dispatchesOf, withKernelCallCounts } from './dispatches.js';
import { withTinySteps } from './tiny-steps.js';

interface Steps {
  readonly losses: number[];
  /** McevalSwiGlu and McevalSwiGluGrad calls over the two steps counted. */
  readonly gatings: number;
  readonly dispatches: number;
  readonly layers: number;
}

/** Three steps of `method` on builtin:tiny: the losses, and the last two steps' gating calls and dispatches. */
const steps = (method: Method): Promise<Steps> =>
  withTinySteps(method, async (run, model) => {
    const first = await run.step();
    let dispatches = 0;
    const { value, calls } = await withKernelCallCounts([SWIGLU, SWIGLU_GRAD], async () => {
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
      gatings: calls[SWIGLU]! + calls[SWIGLU_GRAD]!,
      dispatches: dispatches / 2,
      layers: model.config.numHiddenLayers,
    };
  });

/** Whether the device binds the gated input gradient's storage buffers: dy, W, B, A′, t, gate, up, dUp and dGate. */
const bindsGatedGradient = () => storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike) >= 9;

// MCEVAL_WEBGPU_INLINE_NARROW: the products with their narrow products inside them, and by dispatches of their own.
for (const inline of ['auto', 'never'] as const)
  for (const method of ['lora', 'lora-dropout', 'monteclora'] as const)
    test(`a ${method} step, narrow products ${inline === 'auto' ? 'inside' : 'apart'}: the same loss bits without the gating's dispatches`, () =>
      withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, async () => {
        const inside = await steps(method);
        const apart = await withEnv('MCEVAL_WEBGPU_GATING', 'apart', () => steps(method));
        assert.deepEqual(inside.losses, apart.losses);
        assert.equal(apart.gatings, 2 * 2 * apart.layers, 'apart: McevalSwiGlu and its gradient, each layer and step');
        // With the narrow products by dispatches of their own, a product binds eight buffers at most: WebGPU's default.
        const read = inline === 'never' || bindsGatedGradient();
        assert.equal(inside.gatings, read ? 0 : apart.gatings);
        assert.equal(inside.dispatches, apart.dispatches - (read ? 2 * inside.layers : 0));
      }));

test("DoRA's column-scaled down projections form the gating first", async () => {
  const inside = await steps('dora');
  const apart = await withEnv('MCEVAL_WEBGPU_GATING', 'apart', () => steps('dora'));
  assert.deepEqual(inside.losses, apart.losses);
  assert.equal(inside.gatings, 2 * 2 * inside.layers);
  assert.equal(inside.dispatches, apart.dispatches);
});
