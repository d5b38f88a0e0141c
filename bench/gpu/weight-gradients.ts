/**
 * A LoRA layer's weight gradients, alone: dA = (m ⊙ x)ᵀ·dDown [in, r] and dB = downᵀ·dy [r, out] over a step's
 * tokens, through lowRankWeightGradients as a step runs them, with and without a dropout mask. First by tfjs-webgpu's
 * matMul (MCEVAL_WEBGPU_WEIGHT_GRADIENTS=tfjs), under each program it has (its WEBGPU_MATMUL_PROGRAM_TYPE flag): on
 * these shapes it picks 32 × 32 tiles unless an output has fewer than its threshold of tiles (builtin:medium's
 * [768, 8] gradient: 24 workgroups, each walking all 2,048 tokens, where an H200 has 132 multiprocessors), and its
 * others are split-K (partial sums added atomically, so not the same bits twice), small-output tiles and packed tiles.
 * Then by mceval's kernel, which splits the tokens and adds the partial sums in a fixed order (`split`, the default).
 * Milliseconds per call for both gradients, and each way's largest difference from tfjs's default (relative to the
 * largest value); a program tfjs refuses for a shape reports its error.
 */
import { tf, type Tensor, type Tensor2D } from '../../src/engine/tf.js';
import { lowRankWeightGradients } from '../../src/engine/ops/low-rank-weight-gradients.js';
import { drawDropout } from '../../src/engine/ops/dropout.js';
import { Rng } from '../../src/engine/rng.js';
import { withEnv } from '../../test/with-env.js';
import { relativeDifference, timePerCall, withFlag } from './time-per-call.js';

/** tfjs-webgpu's MatMulProgramType values; -1 lets it choose. */
const TFJS_PROGRAMS = { default: -1, splitK: 1, smallOutput: 2, packed: 3 } as const;

const WAYS = [
  ...Object.entries(TFJS_PROGRAMS).map(([program, type]) => ({ way: `tfjs ${program}`, setting: 'tfjs', type })),
  { way: 'mceval split', setting: 'split', type: -1 },
];

/** `shapes`: in × r × out. */
export async function weightGradientTimes(
  shapes: readonly (readonly [number, number, number])[],
  tokens: number,
  repeats: number,
) {
  const results = [];
  for (const [inFeatures, rank, outFeatures] of shapes)
    for (const masked of [false, true]) {
      const normal = (columns: number, seed: number) =>
        tf.randomNormal([tokens, columns], 0, 1, 'float32', seed) as Tensor2D;
      const [x, dDown, down, dy] = [inFeatures, rank, rank, outFeatures].map((columns, i) => normal(columns, i + 1));
      // The presets' dropout, 0.05: its mask made inside mceval's kernel, by a dispatch of its own for tfjs's.
      const drawn = masked ? drawDropout(0.05, new Rng(5)) : undefined;
      const dropout = drawn === undefined ? undefined : { hash: drawn };
      const gradients = () =>
        tf.tidy(() => lowRankWeightGradients({ x: x!, dDown: dDown!, down: down!, dy: dy!, dropout }));
      let reference: Float32Array[] | undefined;
      for (const { way, setting, type } of WAYS) {
        const shape = { tokens, inFeatures, rank, outFeatures, mask: masked, way };
        try {
          const measured = await withEnv('MCEVAL_WEBGPU_WEIGHT_GRADIENTS', setting, () =>
            withFlag('WEBGPU_MATMUL_PROGRAM_TYPE', type, async () => {
              const both = gradients();
              const values = (await Promise.all(both.map((t) => t.data()))) as Float32Array[];
              tf.dispose(both);
              const seconds = await timePerCall((): Tensor => {
                const [dA, dB] = gradients();
                dB.dispose();
                return dA;
              }, repeats);
              return { values, seconds };
            }),
          );
          reference ??= measured.values;
          const difference = Math.max(...measured.values.map((array, i) => relativeDifference(array, reference![i]!)));
          const flops = 2 * tokens * rank * (inFeatures + outFeatures);
          results.push({
            ...shape,
            msPerCall: measured.seconds * 1000,
            gflops: flops / measured.seconds / 1e9,
            maxRelativeDifference: difference,
          });
        } catch (error) {
          results.push({ ...shape, error: error instanceof Error ? error.message : String(error) });
        }
      }
      tf.dispose([x!, dDown!, down!, dy!]);
    }
  return results;
}
