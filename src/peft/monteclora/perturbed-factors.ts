/**
 * The device draw's perturbed factors for the layers of every input width of a group (group-sampler.ts, one outer
 * sample): A_l + ε√Σ_l ⊙ Σ_n w_ln Z_ln for each width's stacked A [members, d_in, r], with the mixture weights w
 * [L, 1, N] and columns' scales ε√Σ [L, 1, r] of every layer (a width's members are rows first, first + 1, …) and the
 * noise Z drawn from each member's key. Where the backend has mceval's kernels (webgpu:
 * engine/kernels/webgpu/perturbed-factors.ts) every width's factors are one dispatch and their gradients in w and ε√Σ
 * another, the noise drawn where it is used. Elsewhere the group sampler composes tfjs ops (which define the op).
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import {
  PERTURBED_FACTORS,
  PERTURBED_FACTORS_GRAD,
  PERTURBED_FACTORS_MAX_RANK,
  perturbedFactorBindings,
  type PerturbedFactorsAttrs,
} from '../../engine/kernels/webgpu/perturbed-factors.js';
import { storageBuffersPerShader, type WebGpuBackendLike } from '../../engine/kernels/webgpu/shader.js';

/** Every width's part of a group draw. */
export interface WidthsDraw extends PerturbedFactorsAttrs {
  /** [L, 1, N]. */
  readonly mixing: Tensor;
  /** [L, 1, r]. */
  readonly columnScale: Tensor;
}

/** Whether the backend computes the perturbed factors of rank `rank` for `widths` widths in its own kernels. */
export function perturbedFactorKernels(rank: number, widths: number): boolean {
  if (!hasKernel(PERTURBED_FACTORS) || rank > PERTURBED_FACTORS_MAX_RANK) return false;
  return perturbedFactorBindings(widths) <= storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
}

const attrsOf = ({ keys, firsts, members, rows }: WidthsDraw): PerturbedFactorsAttrs => ({
  keys,
  firsts,
  members,
  rows,
});

const run = (name: string, inputs: Record<string, Tensor>, attrs: PerturbedFactorsAttrs) =>
  tf.engine().runKernel(name, inputs as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor[];

/** Named inputs `prefix0`, `prefix1`, … */
const numbered = (prefix: string, tensors: readonly Tensor[]) =>
  Object.fromEntries(tensors.map((tensor, w) => [`${prefix}${w}`, tensor]));

/** Each width's [members, d_in, r]: A + the perturbation, differentiable in each stacked A, w and ε√Σ. */
export function perturbedFactors(stacks: readonly Tensor[], draw: WidthsDraw): Tensor[] {
  const attrs = attrsOf(draw);
  const widths = stacks.length;
  return runMultiOutputOp([...stacks, draw.mixing, draw.columnScale], {
    forward: (inputs, save) => {
      const [mixing, columnScale] = inputs.slice(widths);
      save([mixing!, columnScale!]);
      return run(
        PERTURBED_FACTORS,
        { ...numbered('a', inputs.slice(0, widths)), weights: mixing!, columnScale: columnScale! },
        attrs,
      );
    },
    backward: (dSums, [weights, columnScale]) => {
      const [dWeights, dScale] = run(
        PERTURBED_FACTORS_GRAD,
        { ...numbered('dSums', dSums), weights: weights!, columnScale: columnScale! },
        attrs,
      );
      // Each A's gradient is its upstream one: its own tensor (tfjs accumulates each input's separately).
      return [...dSums.map((d) => tf.clone(d)), dWeights!, dScale!];
    },
  });
}

/** Each width's [members, d_in, r]: the perturbations alone, no gradient (the noise-to-A diagnostic reads them). */
export function factorPerturbations(draw: WidthsDraw): Tensor[] {
  return run(PERTURBED_FACTORS, { weights: draw.mixing, columnScale: draw.columnScale }, attrsOf(draw));
}
