/**
 * ‖W + s·A·B‖ per output column of a low-rank-adapted weight stored [in, out] (DoRA's weight norm), not differentiable:
 * on webgpu one dispatch (McevalAdaptedColumnNorms, no [in, out] tensor), elsewhere tfjs's ops.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { ADAPTED_COLUMN_NORMS, type AdaptedColumnNormsAttrs } from '../kernels/webgpu/adapted-column-norms.js';

export function adaptedColumnNorms(weight: Tensor2D, a: Tensor2D, b: Tensor2D, scale: number): Tensor {
  if (hasKernel(ADAPTED_COLUMN_NORMS)) {
    const attrs: AdaptedColumnNormsAttrs = { scale };
    return tf.engine().runKernel(ADAPTED_COLUMN_NORMS, { w: weight, a, b } as never, attrs as never) as Tensor;
  }
  return tf.tidy(() => tf.norm(tf.add(weight, tf.mul(tf.matMul(a, b), scale)), 'euclidean', 0));
}
