/**
 * RMSNorm (Zhang & Sennrich 2019) as Llama uses it: x / sqrt(mean(x²) + eps) · weight, over the last axis.
 *
 * Its gradient is written out rather than left to autodiff, which would keep five activation-sized intermediates per
 * norm alive until the backward pass; this keeps x and one reciprocal RMS per row. The forward values are the same ops
 * as before, so outputs are bit-identical.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';

/**
 * Sums a gradient over every axis but the last (the gradient of a weight broadcast along the last axis) as a product
 * with a row of ones: on tfjs-wasm a column sum runs ~10× slower than the same work as a 2D matMul.
 */
function sumToLastAxis(t: Tensor): Tensor {
  const flat = tf.reshape(t, [-1, t.shape[t.shape.length - 1]!]) as Tensor2D;
  return tf.reshape(tf.matMul(tf.ones([1, flat.shape[0]]), flat), [flat.shape[1]]);
}

export function rmsNorm(x: Tensor, weight: Variable, eps: number): Tensor {
  const norm = tf.customGrad(((input: Tensor, w: Tensor, save: GradSaveFunc) => {
    const reciprocalRms = tf.rsqrt(tf.add(tf.mean(tf.square(input), -1, true), eps));
    save([input, reciprocalRms, w]);
    return {
      value: tf.mul(tf.mul(input, reciprocalRms), w),
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const [xs, r, ws] = saved as [Tensor, Tensor, Tensor];
        const normalized = tf.mul(xs, r);
        const g = tf.mul(dy, ws);
        // d/dx of x·r(x): r·(g − x̂·mean(g·x̂)), with x̂ = x·r.
        const projection = tf.mean(tf.mul(g, normalized), -1, true);
        const dx = tf.mul(tf.sub(g, tf.mul(normalized, projection)), r);
        // A frozen weight (every adapter method) needs no gradient: zeros stand in, skipping a reduction per norm.
        const dw = weight.trainable ? sumToLastAxis(tf.mul(dy, normalized)) : tf.zerosLike(ws);
        return [dx, dw];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (a: Tensor, b: Tensor) => Tensor;
  return norm(x, weight);
}
