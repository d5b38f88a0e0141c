/**
 * The device draw's perturbed factors for the layers of one input width (group-sampler.ts, one outer sample):
 * A_l + ε√Σ_l ⊙ Σ_n w_ln Z_ln for the members' stacked A [members, d_in, r], with the mixture weights w [L, 1, N] and
 * columns' scales ε√Σ [L, 1, r] of every layer (the members are rows first, first + 1, …) and the noise Z drawn from
 * each member's key. Where the backend has mceval's kernels (webgpu: engine/kernels/webgpu/perturbed-factors.ts) the
 * factors are one dispatch and their gradients in w and ε√Σ another, the noise drawn where it is used. Elsewhere the
 * group sampler composes tfjs ops (which define the op).
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import {
  PERTURBED_FACTORS,
  PERTURBED_FACTORS_GRAD,
  PERTURBED_FACTORS_MAX_RANK,
  type PerturbedFactorsAttrs,
} from '../../engine/kernels/webgpu/perturbed-factors.js';

/** One width's part of a group draw. */
export interface WidthDraw extends PerturbedFactorsAttrs {
  /** [L, 1, N]. */
  readonly mixing: Tensor;
  /** [L, 1, r]. */
  readonly columnScale: Tensor;
}

/** Whether the backend computes the perturbed factors of rank `rank` in its own kernels. */
export const perturbedFactorKernels = (rank: number) =>
  hasKernel(PERTURBED_FACTORS) && rank <= PERTURBED_FACTORS_MAX_RANK;

const attrsOf = ({ keys, first, rows }: WidthDraw): PerturbedFactorsAttrs => ({ keys, first, rows });

const run = (name: string, inputs: Record<string, Tensor>, attrs: PerturbedFactorsAttrs) =>
  tf.engine().runKernel(name, inputs as NamedTensorMap, attrs as unknown as NamedAttrMap);

/** [members, d_in, r]: A + the perturbation, differentiable in the stacked A, w and ε√Σ. */
export function perturbedFactors(a: Tensor, draw: WidthDraw): Tensor {
  const attrs = attrsOf(draw);
  const op = tf.customGrad(((aIn: Tensor, mixing: Tensor, columnScale: Tensor, save: (t: Tensor[]) => void) => {
    save([mixing, columnScale]);
    return {
      value: run(PERTURBED_FACTORS, { a: aIn, weights: mixing, columnScale }, attrs) as Tensor,
      gradFunc: tidyGradient((dSums: Tensor, [weights, scale]: Tensor[]) => {
        const [dWeights, dScale] = run(
          PERTURBED_FACTORS_GRAD,
          { dSums, weights: weights!, columnScale: scale! },
          attrs,
        ) as Tensor[];
        // A's gradient is the upstream one: its own tensor (tfjs accumulates each input's separately).
        return [tf.clone(dSums), dWeights!, dScale!];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (a: Tensor, mixing: Tensor, columnScale: Tensor) => Tensor;
  return op(a, draw.mixing, draw.columnScale);
}

/** [members, d_in, r]: the perturbations alone, without a gradient (the noise-to-A diagnostic reads them). */
export function factorPerturbations(draw: WidthDraw): Tensor {
  return run(PERTURBED_FACTORS, { weights: draw.mixing, columnScale: draw.columnScale }, attrsOf(draw)) as Tensor;
}
