/**
 * Low-rank layers split at their dropout (DoRA's under dropout) beside plain ones, as one op on webgpu against the
 * same op on wasm (split-dropout-case.ts): the outputs and the gradients of x, each A and B, a perturbation and a
 * residual within 1e-5 of the largest value, with the narrow products inline and apart, on 64- and 128-wide tiles,
 * with vec4 loads and scalar ones. The dropped part's products read x through the mask (no mask is made on its own)
 * and each split layer's rest is one McevalMatrixProduct each way; a decoder's q, k and v, all split, form their
 * dropped parts in one group dispatch where the device binds it (each member's x read through its own mask).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { withEnv } from '../helpers.js';
import { assertAgree } from './agreement.js';
import { runSplitCase, type SplitCase } from '../split-dropout-case.js';
import { MATRIX_PRODUCT } from '../../src/engine/kernels/webgpu/matrix-product.js';
import { DROPOUT_MASK } from '../../src/engine/kernels/webgpu/dropout-mask.js';
import { LOW_RANK_PRODUCT_GROUP } from '../../src/engine/kernels/webgpu/low-rank-product.js';
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
        assert.equal(count(MATRIX_PRODUCT), 2 * splits, "each split layer's rest, forward and backward");
        assert.equal(count(DROPOUT_MASK), 0, 'no mask made on its own');
        // Three split layers inline, at 16 buffers: their dropped parts in one group dispatch.
        const binds = storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
        if (c.splits.every(Boolean) && inline === 'always' && binds >= 16)
          assert.equal(count(LOW_RANK_PRODUCT_GROUP), 1, 'the group ran');
        reference.labels.forEach((label, i) => assertAgree(label, candidate.arrays[i]!, reference.arrays[i]!, 1e-5));
      });
