/**
 * sums[k] + terms[k] for every k: gradient accumulation's running sums. On webgpu one McevalAccumulate call, a few
 * dispatches for a hundred pairs, each sum written over its old buffer where nothing else holds it; elsewhere tfjs's
 * Add per pair (on the host backends a call costs microseconds, and the values keep their bits). The sums are given
 * up: read only the returned tensors afterwards, and dispose the old ones as before.
 */
import type { NamedTensorMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { ACCUMULATE } from '../kernels/webgpu/accumulate.js';

export function addEach(sums: readonly Tensor[], terms: readonly Tensor[]): Tensor[] {
  if (sums.length !== terms.length) throw new Error(`addEach: ${sums.length} sums for ${terms.length} terms`);
  sums.forEach((sum, k) => {
    if (!tf.util.arraysEqual(sum.shape, terms[k]!.shape)) {
      throw new Error(`addEach: sum ${k} is shaped [${sum.shape}], its term [${terms[k]!.shape}]`);
    }
  });
  if (sums.length === 0) return [];
  if (!hasKernel(ACCUMULATE)) return sums.map((sum, k) => tf.add(sum, terms[k]!));
  const inputs = Object.fromEntries(sums.flatMap((sum, k) => [[`s${k}`, sum] as const, [`t${k}`, terms[k]!] as const]));
  return tf.engine().runKernel(ACCUMULATE, inputs as NamedTensorMap, {}) as unknown as Tensor[];
}
