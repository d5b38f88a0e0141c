/**
 * The weight gradients of a LoRA step, alone: pᵀ·q for tall p [tokens, m] and q [tokens, n] with one side the rank —
 * dA = xᵀ·(dy·Bᵀ) is [d_in, r], dB = (x·A)ᵀ·dy is [r, d_out] — through transposedProduct, as a step runs them, under
 * each matMul program tfjs-webgpu has (its WEBGPU_MATMUL_PROGRAM_TYPE flag). On these shapes it picks 32 × 32 tiles
 * (builtin:medium's [768, 8] gradient: 24 workgroups, each walking all 2,048 tokens, where an H200 has 132
 * multiprocessors) unless the output has fewer than its threshold of tiles; the others are its split-K program (the
 * tokens shared out between workgroups, partial sums added atomically) and its small-output tiles. Whether a narrow
 * split-K kernel of mceval's own is worth writing, or only tfjs's threshold (the kit's `matmulThresholds` section)
 * worth setting, is what these numbers say. Milliseconds and GFLOP/s per call, and each program's largest difference
 * from the default's result (relative to its largest value); a program tfjs refuses for a shape reports its error.
 */
import { tf, type Tensor2D } from '../../src/engine/tf.js';
import { transposedProduct } from '../../src/engine/ops/transposed-product.js';
import { relativeDifference, timePerCall, withFlag } from './time-per-call.js';

/** tfjs-webgpu's MatMulProgramType values; -1 lets it choose. */
const PROGRAMS = { default: -1, splitK: 1, smallOutput: 2, packed: 3 } as const;

export async function rankProductTimes(shapes: readonly (readonly [number, number, number])[], repeats: number) {
  const results = [];
  for (const [tokens, m, n] of shapes) {
    const p = tf.randomNormal([tokens, m], 0, 1, 'float32', 1) as Tensor2D;
    const q = tf.randomNormal([tokens, n], 0, 1, 'float32', 2) as Tensor2D;
    let reference: Float32Array | undefined;
    for (const [program, type] of Object.entries(PROGRAMS)) {
      try {
        const { values, seconds } = await withFlag('WEBGPU_MATMUL_PROGRAM_TYPE', type, async () => {
          const product = transposedProduct(p, q);
          const computed = (await product.data()) as Float32Array;
          product.dispose();
          return { values: computed, seconds: await timePerCall(() => transposedProduct(p, q), repeats) };
        });
        reference ??= values;
        results.push({
          tokens,
          m,
          n,
          program,
          msPerCall: seconds * 1000,
          gflops: (2 * tokens * m * n) / seconds / 1e9,
          maxRelativeDifference: relativeDifference(values, reference),
        });
      } catch (error) {
        results.push({ tokens, m, n, program, error: error instanceof Error ? error.message : String(error) });
      }
    }
    tf.dispose([p, q]);
  }
  return results;
}
