/**
 * Low-rank layers split at their dropout (DoRA's under dropout) beside plain ones, as one op on webgpu against the
 * same op on wasm (split-dropout-case.ts): the outputs and the gradients of x, each A and B, a perturbation and a
 * residual within 1e-5 of the largest value, with the narrow products inline and apart, on 64- and 128-wide tiles,
 * with vec4 loads and scalar ones. The dropped part's products read x through the mask (no mask is made on its own).
 * Where the narrow products are inline, each split layer forms its rest in its dropped part's dispatch each way
 * (MCEVAL_WEBGPU_RESTS=alongside), with the same bits as its rest's own McevalMatrixProduct each way (`apart`, where a
 * decoder's q, k and v, all split, form their dropped parts in one group dispatch, each member's x read through its
 * own mask), on every tiling; where a magnitude scales the dropped parts (DoRA's), the scaling is inside that dispatch
 * too, with McevalMagnitudeScale's bits, and the op's layers' magnitude gradients are formed together (as many to a
 * McevalMagnitudeScaleGrad dispatch as bind), with the bits of each one's own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { withEnv } from '../helpers.js';
import { withEnvironment } from '../../src/engine/environment-values.js';
import { assertAgree } from './agreement.js';
import { runSplitCase, type SplitCase } from '../split-dropout-case.js';
import { MATRIX_PRODUCT } from '../../src/engine/kernels/webgpu/matrix-product.js';
import {
  MAGNITUDE_SCALE,
  MAGNITUDE_SCALE_GRAD,
  magnitudeGradientsPerDispatch,
} from '../../src/engine/kernels/webgpu/magnitude-scale.js';
import { DROPOUT_MASK } from '../../src/engine/kernels/webgpu/dropout-mask.js';
import { LOW_RANK_PRODUCT_GROUP, LOW_RANK_PRODUCT_INLINE } from '../../src/engine/kernels/webgpu/low-rank-product.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../src/engine/kernels/webgpu/shader.js';
import { tf } from '../../src/engine/tf.js';

const CASES: SplitCase[] = [
  // A decoder's q, k and v: vec4 loads, several tiles.
  {
    tokens: 70,
    inFeatures: 64,
    widths: [132, 64, 200],
    rank: 8,
    splits: [true, true, true],
    bias: true,
    residual: true,
    perturbation: true,
  },
  // A decoder's gate and up under DoRA: each dropped part scaled by its magnitude, inside the product alongside.
  {
    tokens: 40,
    inFeatures: 32,
    widths: [64, 68],
    rank: 4,
    splits: [true, true],
    bias: false,
    residual: true,
    perturbation: false,
    magnitude: true,
  },
  // A decoder's q, k and v under DoRA (k and v narrower): their magnitudes' gradients in one dispatch where it binds.
  {
    tokens: 36,
    inFeatures: 48,
    widths: [52, 20, 20],
    rank: 4,
    splits: [true, true, true],
    bias: false,
    residual: false,
    perturbation: false,
    magnitude: true,
  },
  // Sizes off vec4: the scalar shaders, a plain layer between split ones.
  {
    tokens: 33,
    inFeatures: 37,
    widths: [45, 29, 70],
    rank: 5,
    splits: [true, false, true],
    bias: true,
    residual: true,
    perturbation: false,
  },
];

for (const tile of ['64', '128'])
  for (const c of CASES)
    for (const inline of ['always', 'never'])
      test(`webgpu layers split at their dropout agree with wasm: ${c.inFeatures} → ${c.widths.join(', ')}, tile ${tile}, inline ${inline}`, async () => {
        await initEngine('wasm');
        const reference = await runSplitCase(c);
        const candidate = await withEnv('MCEVAL_WEBGPU_INLINE_NARROW', inline, () =>
          withEnv('MCEVAL_WEBGPU_PRODUCT_TILE', tile, async () => {
            await initEngine('webgpu');
            return runSplitCase(c);
          }),
        );
        const splits = c.splits.filter(Boolean).length;
        const count = (name: string) => candidate.kernels.filter((kernel) => kernel === name).length;
        assert.equal(count(DROPOUT_MASK), 0, 'no mask made on its own');
        // Inline at 16 buffers (vec4 sizes): each rest in its dropped part's dispatch, no group; else its own.
        const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
        if (inline === 'never' || !vectorized(c))
          assert.equal(count(MATRIX_PRODUCT), 2 * splits, "each split layer's rest, forward and backward");
        else if (binds >= 16) {
          assert.equal(count(MATRIX_PRODUCT), 0, 'no rest of its own');
          assert.equal(count(LOW_RANK_PRODUCT_GROUP), 0, 'no group');
          assert.equal(count(LOW_RANK_PRODUCT_INLINE), 2 * splits, 'one inline product a split layer each way');
        }
        reference.labels.forEach((label, i) => assertAgree(label, candidate.arrays[i]!, reference.arrays[i]!, 1e-5));
      });

const vectorized = (c: SplitCase) => [c.inFeatures, ...c.widths, c.rank].every((size) => size % 4 === 0);

const TILINGS = [
  { tile: '64', prefetch: 'off', code: 'loops' },
  { tile: '128', prefetch: 'on', code: 'unrolled' },
];

for (const { tile, prefetch, code } of TILINGS)
  for (const c of CASES.filter(vectorized))
    test(`rests alongside their dropped parts give the same bits as apart: ${c.inFeatures} → ${c.widths.join(', ')}, tile ${tile}, prefetch ${prefetch}, ${code}, ${c.magnitude === true ? 'scaled' : 'unscaled'}`, async () => {
      await initEngine('webgpu');
      const tiling = { MCEVAL_WEBGPU_PRODUCT_TILE: tile, MCEVAL_WEBGPU_PRODUCT_PREFETCH: prefetch };
      const run = (rests: string) =>
        withEnvironment({ ...tiling, MCEVAL_WEBGPU_PRODUCT_CODE: code, MCEVAL_WEBGPU_RESTS: rests }, () =>
          runSplitCase(c),
        );
      const [apart, alongside] = [await run('apart'), await run('alongside')];
      const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
      const count = (outcome: { kernels: string[] }, name: string) =>
        outcome.kernels.filter((kernel) => kernel === name).length;
      const splits = c.splits.filter(Boolean).length;
      assert.equal(count(apart, MATRIX_PRODUCT), 2 * splits, "apart: each rest's own, each way");
      // The biggest call binds 9 buffers (x, W, A, B, t, the output, the rest's, bias, residual), 11 when scaled.
      if (binds >= 11) {
        assert.equal(count(alongside, MATRIX_PRODUCT), 0, 'alongside: none of their own');
        assert.equal(count(alongside, MAGNITUDE_SCALE), 0, 'alongside: the scaling inside');
        assert.equal(count(apart, MAGNITUDE_SCALE), c.magnitude === true ? splits : 0, 'apart: each its own');
        // Each scaling's gradient its own op apart; alongside, the op's layers' together, as many as a dispatch binds.
        const most = magnitudeGradientsPerDispatch(tf.backend() as unknown as WebGpuBackendLike);
        const gradients = c.magnitude === true ? [splits, Math.ceil(splits / most)] : [0, 0];
        assert.deepEqual([count(apart, MAGNITUDE_SCALE_GRAD), count(alongside, MAGNITUDE_SCALE_GRAD)], gradients);
      }
      apart.labels.forEach((label, i) =>
        assert.ok(
          apart.arrays[i]!.every((value, j) => Object.is(value, alongside.arrays[i]![j])),
          `${label}: the same bits`,
        ),
      );
    });
