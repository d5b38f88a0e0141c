/**
 * The group draw's scales by the webgpu kernels (peft/monteclora/draw-scales.ts: Σ, ε√Σ and the mixture weights, with
 * their gradients in s and p) against their definition in tfjs ops on wasm, from the same values: outputs and the
 * gradients of a weighted sum of them — with Σ under its 1e-3 clamp, v under its 1e-6 clamp (large concentrations), a
 * concentration e^p under its 1e-6 clamp,
 * N = 2 (where v has no α⁻¹ term of its own), one and several outer samples. float32 in another order: within 2e-6 of
 * each output's largest value, gradients 2e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';
import { hasKernel } from '../../src/engine/kernels/has-kernel.js';
import { MIXTURE_WEIGHTS, SAMPLE_COVARIANCE } from '../../src/engine/kernels/webgpu/draw-scales.js';
import { groupMixtureWeights, sampleCovariance } from '../../src/peft/monteclora/draw-scales.js';
import { assertAgree } from './agreement.js';

interface Shape {
  readonly L: number;
  readonly M: number;
  readonly N: number;
  readonly r: number;
}

/** Σ, ε√Σ, w and the gradients in s and p of Σ·u₁ + ε√Σ·u₂ + w·u₃ summed, on `backend`. */
async function evaluate(backend: 'wasm' | 'webgpu', { L, M, N, r }: Shape) {
  await initEngine(backend);
  const before = tf.memory().numTensors;
  const rng = new Rng(31);
  const chiSquare = rng.uniformArray(L * M * r, 0.2, 12);
  // e^{2s}·c below 1e-3: the clamp, and no gradient through it.
  chiSquare[2] = 1e-4;
  const p = rng.uniformArray(L * N, -2, 2);
  // Layer 1's concentrations e^{14..16}: v clamped at 1e-6 in every component.
  for (let k = 0; k < N; k++) p[N + k] = 14 + k;
  // e^{-16} < 1e-6: α clamped, and no gradient through it.
  p[2 * N] = -16;
  const [s, pTensor] = [tf.tensor2d(rng.uniformArray(L * r, -1, 1), [L, r]), tf.tensor2d(p, [L, N])];
  const chi = tf.tensor3d(chiSquare, [L, M, r]);
  const noise = tf.tensor3d(rng.normalArray(L * M * N), [L, M, N]);
  const upstream = [r, r, N].map((width, i) => tf.tensor3d(new Rng(40 + i).normalArray(L * M * width), [L, M, width]));
  const outputs = (sIn: Tensor, pIn: Tensor) => {
    const { covariance, columnScale } = sampleCovariance(sIn, chi, 0.3);
    return [covariance, columnScale, groupMixtureWeights(pIn, noise)];
  };
  const { value, grads } = tf.valueAndGrads((sIn: Tensor, pIn: Tensor) =>
    tf.addN(outputs(sIn, pIn).map((t, i) => tf.sum(tf.mul(t, upstream[i]!)))),
  )([s, pTensor]);
  const forward = tf.tidy(() => outputs(s, pTensor));
  const arrays = await Promise.all([...forward, ...grads].map((t) => t.data()));
  tf.dispose([s, pTensor, chi, noise, ...upstream, value, ...forward, ...grads]);
  assert.equal(tf.memory().numTensors, before, `${backend}: a tensor outlived the draw`);
  return arrays.map((array) => Array.from(array as Float32Array));
}

for (const shape of [
  { L: 5, M: 2, N: 3, r: 4 },
  { L: 7, M: 1, N: 4, r: 8 },
  { L: 3, M: 3, N: 2, r: 2 },
])
  test(`webgpu draw-scale kernels agree with their tfjs ops (L ${shape.L}, M ${shape.M}, N ${shape.N}, r ${shape.r})`, async () => {
    const reference = await evaluate('wasm', shape);
    await initEngine('webgpu');
    assert.ok(hasKernel(SAMPLE_COVARIANCE) && hasKernel(MIXTURE_WEIGHTS), 'the webgpu kernels are registered');
    const candidate = await evaluate('webgpu', shape);
    ['Σ', 'ε√Σ', 'w'].forEach((label, i) => assertAgree(label, candidate[i]!, reference[i]!, 2e-6));
    ['d s', 'd p'].forEach((label, i) => assertAgree(label, candidate[3 + i]!, reference[3 + i]!, 2e-5));
    // The clamps took effect: Σ at its floor, and the clamped concentration's p without gradient.
    assert.equal(candidate[0]![2], Math.fround(1e-3));
    assert.equal(candidate[4]![2 * shape.N], 0);
  });
