/**
 * The device draw's perturbed factors for the layers of every input width of a group (group-sampler.ts, one outer
 * sample): A_l + ε√Σ_l ⊙ Σ_n w_ln Z_ln for each layer, read from its width's stacked A [members, d_in, r], with the
 * mixture weights w [L, 1, N] and columns' scales ε√Σ [L, 1, r] of every layer (a width's members are rows first,
 * first + 1, …) and the noise Z drawn from each member's key. Where the backend has mceval's kernels (webgpu:
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
  perturbationsAlongsideBindings,
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

/**
 * Each member's A_l + its perturbation [d_in, r], width by width in member order, differentiable in each A_l, w and
 * ε√Σ; and each width's perturbations alone [members, d_in, r] (factorPerturbations' values, for the noise-to-A
 * diagnostic: no gradient), written by the same dispatch where the device binds them, else undefined. `stacks` are each
 * width's A, [members, d_in, r], as the kernel reads them: the caller stacks them (and reads them for the diagnostic),
 * and they are not inputs of the op, so no gradient is formed for them. Each A_l's gradient is its A′_l's, passed on:
 * the stacked A's would be cut apart again, a few Unpack dispatches a step (six on builtin:medium's 84 layers). The
 * upstream A′ gradients are stacked once, for w's and ε√Σ's.
 */
export function perturbedFactors(
  members: readonly (readonly Tensor[])[],
  stacks: readonly Tensor[],
  draw: WidthsDraw,
): { sums: Tensor[][]; perturbations: Tensor[] | undefined } {
  const alongside =
    perturbationsAlongsideBindings(stacks.length) <=
    storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
  const attrs = { ...attrsOf(draw), withPerturbations: alongside };
  const flat = members.flat();
  // Member i of width w is output firsts[w] + i: members are numbered across widths in order.
  const firsts = members.map((_, w) => members.slice(0, w).reduce((n, width) => n + width.length, 0));
  const outputs = runMultiOutputOp([...flat, draw.mixing, draw.columnScale], {
    forward: (inputs, save) => {
      const [mixing, columnScale] = inputs.slice(flat.length);
      save([mixing!, columnScale!]);
      const written = run(
        PERTURBED_FACTORS,
        { ...numbered('a', stacks), weights: mixing!, columnScale: columnScale! },
        attrs,
      );
      const sums = written.slice(0, stacks.length);
      const unstacked = sums.flatMap((sum) =>
        sum.shape[0] === 1 ? [tf.reshape(sum, sum.shape.slice(1))] : tf.unstack(sum),
      );
      // The perturbations, where written, after the factors: outputs the loss does not read. tfjs gives each a zero
      // upstream gradient made on the host, which the backward pass leaves unread, so it never reaches the device.
      return [...unstacked, ...written.slice(stacks.length)];
    },
    backward: (allDys, [weights, columnScale]) => {
      // The perturbations' upstream (zeros: the diagnostic is off the loss) is left out.
      const dys = allDys.slice(0, flat.length);
      const dSums = members.map((width, w) => tf.stack(dys.slice(firsts[w], firsts[w]! + width.length)));
      const [dWeights, dScale] = run(
        PERTURBED_FACTORS_GRAD,
        { ...numbered('dSums', dSums), weights: weights!, columnScale: columnScale! },
        attrs,
      );
      // Each A's gradient is its A′'s upstream one, passed on (ops/multi-output.ts says why no clone).
      return [...dys, dWeights!, dScale!];
    },
  });
  const sums = members.map((width, w) => outputs.slice(firsts[w], firsts[w]! + width.length));
  return { sums, perturbations: alongside ? outputs.slice(flat.length) : undefined };
}

/** Each width's [members, d_in, r]: the perturbations alone, no gradient (the noise-to-A diagnostic reads them). */
export function factorPerturbations(draw: WidthsDraw): Tensor[] {
  return run(PERTURBED_FACTORS, { weights: draw.mixing, columnScale: draw.columnScale }, attrsOf(draw));
}
