/**
 * Σ_t Σ x² over a list of tensors (a global gradient norm, a diagnostic's norms). On the host backends, per tensor in
 * list order (the sums recorded results were made with). On WebGPU, where every op is a dispatch, the tensors are
 * flattened and concatenated in groups of up to 2²² values, so that a hundred LoRA gradients cost a few concatenations,
 * one square and one sum per group instead of three dispatches each; the copy stays bounded for large parameters.
 */
import { tf, type Scalar, type Tensor } from '../tf.js';
import { readsSynchronously } from '../host-reads.js';
import { sumAll } from './sum-all.js';

const GROUP_VALUES = 1 << 22;

const squaredSum = (t: Tensor) => tf.sum(tf.square(t));

export function squaredNorm(tensors: readonly Tensor[]): Scalar {
  if (readsSynchronously()) return sumAll(tensors.map(squaredSum)) as Scalar;
  const groups: Tensor[][] = [];
  let size = Infinity;
  for (const tensor of tensors) {
    if (size + tensor.size > GROUP_VALUES) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(tensor);
    size += tensor.size;
  }
  const flat = (t: Tensor) => tf.reshape(t, [-1]);
  return sumAll(
    groups.map((group) => squaredSum(group.length === 1 ? group[0]! : tf.concat(group.map(flat)))),
  ) as Scalar;
}
