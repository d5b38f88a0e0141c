/**
 * ‖W + s·A·B‖ per output column of a low-rank-adapted weight stored [in, out] (DoRA's weight norm), not differentiable:
 * on webgpu one dispatch (McevalAdaptedColumnNorms, no [in, out] tensor) — for several layers at once, as many as the
 * device binds — elsewhere tfjs's ops.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import {
  ADAPTED_COLUMN_NORMS,
  normsPerDispatch,
  type AdaptedColumnNormsAttrs,
} from '../kernels/webgpu/adapted-column-norms.js';
import type { WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { numberedInputs } from './numbered-inputs.js';

/** A low-rank-adapted weight: W [in, out], A [in, r], B [r, out] and the update's scaling s. */
export interface AdaptedWeight {
  readonly weight: Tensor2D;
  readonly a: Tensor2D;
  readonly b: Tensor2D;
  readonly scale: number;
}

export function adaptedColumnNorms(weight: Tensor2D, a: Tensor2D, b: Tensor2D, scale: number): Tensor {
  return adaptedColumnNormsOf([{ weight, a, b, scale }])[0]!;
}

/** Each layer's norms, in order: on webgpu the layers of one rank that follow each other in dispatches of as many as bind. */
export function adaptedColumnNormsOf(layers: readonly AdaptedWeight[]): Tensor[] {
  if (!hasKernel(ADAPTED_COLUMN_NORMS))
    return layers.map(({ weight, a, b, scale }) =>
      tf.tidy(() => tf.norm(tf.add(weight, tf.mul(tf.matMul(a, b), scale)), 'euclidean', 0)),
    );
  const most = normsPerDispatch(tf.backend() as unknown as WebGpuBackendLike);
  const norms: Tensor[] = [];
  for (let first = 0; first < layers.length;) {
    const rank = layers[first]!.a.shape[1];
    let end = first + 1;
    while (end < layers.length && end - first < most && layers[end]!.a.shape[1] === rank) end++;
    const chunk = layers.slice(first, end);
    const attrs: AdaptedColumnNormsAttrs = { scales: chunk.map((layer) => layer.scale) };
    const inputs = numberedInputs(chunk.map(({ weight, a, b }) => ({ w: weight, a, b })));
    const made = tf.engine().runKernel(ADAPTED_COLUMN_NORMS, inputs as never, attrs as never) as Tensor | Tensor[];
    norms.push(...(Array.isArray(made) ? made : [made]));
    first = end;
  }
  return norms;
}
