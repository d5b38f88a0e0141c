/**
 * The device draw's perturbed factors for every layer of a group (group-sampler.ts, one outer sample): A_l + ε√Σ_l ⊙
 * Σ_n w_ln Z_ln for each layer, read from its own A, with the mixture weights w [L, 1, N] and columns' scales ε√Σ
 * [L, 1, r] of every layer (layer l is row l) and the noise Z drawn from each layer's key. Where the backend has
 * mceval's kernels (webgpu: engine/kernels/webgpu/perturbed-factors.ts) the layers' factors are a few dispatches, as
 * many layers each as the device binds, and their gradients in w and ε√Σ a few more, the noise drawn where it is used.
 * Elsewhere the group sampler composes tfjs ops (which define the op).
 */
import type { NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import {
  PERTURBED_FACTORS,
  PERTURBED_FACTORS_GRAD,
  PERTURBED_FACTORS_MAX_RANK,
  type PerturbedFactorsAttrs,
} from '../../engine/kernels/webgpu/perturbed-factors.js';

/** Every layer's part of a group draw. */
export interface LayersDraw extends PerturbedFactorsAttrs {
  /** [L, 1, N]. */
  readonly mixing: Tensor;
  /** [L, 1, r]. */
  readonly columnScale: Tensor;
}

/** Whether the backend computes the perturbed factors of rank `rank` in its own kernels. */
export function perturbedFactorKernels(rank: number): boolean {
  return hasKernel(PERTURBED_FACTORS) && rank <= PERTURBED_FACTORS_MAX_RANK;
}

const attrsOf = ({ keys, rows }: LayersDraw): PerturbedFactorsAttrs => ({ keys, rows });

const run = (name: string, inputs: Record<string, Tensor>, attrs: PerturbedFactorsAttrs) =>
  tf.engine().runKernel(name, inputs as NamedTensorMap, attrs as unknown as NamedAttrMap) as Tensor[];

/** Named inputs `prefix0`, `prefix1`, … */
const numbered = (prefix: string, tensors: readonly Tensor[]) =>
  Object.fromEntries(tensors.map((tensor, l) => [`${prefix}${l}`, tensor]));

/**
 * Each layer's A_l + its perturbation [d_in, r], differentiable in each A_l, w and ε√Σ; and Σ P² and Σ A² in parts
 * ([parts, 2], no gradient: what the noise-to-A diagnostic adds up). Each A_l's gradient is its A′_l's, passed on.
 */
export function perturbedFactors(factors: readonly Tensor[], draw: LayersDraw): { sums: Tensor[]; squares: Tensor } {
  const attrs = attrsOf(draw);
  const layers = factors.length;
  const outputs = runMultiOutputOp([...factors, draw.mixing, draw.columnScale], {
    forward: (inputs, save) => {
      const [mixing, columnScale] = inputs.slice(layers);
      save([mixing!, columnScale!]);
      return run(
        PERTURBED_FACTORS,
        { ...numbered('a', inputs.slice(0, layers)), weights: mixing!, columnScale: columnScale! },
        attrs,
      );
    },
    backward: (allDys, [weights, columnScale]) => {
      // The sums of squares' upstream (zeros: the diagnostic is off the loss, made on the host) is left unread.
      const dys = allDys.slice(0, layers);
      const [dWeights, dScale] = run(
        PERTURBED_FACTORS_GRAD,
        { ...numbered('dFactor', dys), weights: weights!, columnScale: columnScale! },
        attrs,
      );
      // Each A's gradient is its A′'s upstream one, passed on (ops/multi-output.ts says why no clone).
      return [...dys, dWeights!, dScale!];
    },
  });
  return { sums: outputs.slice(0, layers), squares: outputs[layers]! };
}

/** Each layer's perturbation alone [d_in, r], no gradient. */
export function factorPerturbations(draw: LayersDraw): Tensor[] {
  const outputs = run(PERTURBED_FACTORS, { weights: draw.mixing, columnScale: draw.columnScale }, attrsOf(draw));
  tf.dispose(outputs.pop()!);
  return outputs;
}
