/**
 * RMSNorm (Zhang & Sennrich 2019) as Llama uses it: x / sqrt(mean(x²) + eps) · weight, over the last axis.
 *
 * Its gradient is written out rather than left to autodiff, which would keep five activation-sized intermediates per
 * norm alive until the backward pass; this keeps x and one reciprocal RMS per row. The forward values are the same ops
 * as before, so outputs are bit-identical. On webgpu the forward and the input gradient are mceval's kernels
 * (engine/kernels/webgpu/rms-norm.ts).
 */
import type { GradSaveFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { RMS_NORM, RMS_NORM_GRAD } from '../../engine/kernels/webgpu/rms-norm.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';

/**
 * Sums a gradient over every axis but the last (the gradient of a weight broadcast along the last axis) as a product
 * with a row of ones: on tfjs-wasm a column sum runs ~10× slower than the same work as a 2D matMul.
 */
export function sumToLastAxis(t: Tensor): Tensor {
  const flat = tf.reshape(t, [-1, t.shape[t.shape.length - 1]!]) as Tensor2D;
  return tf.reshape(tf.matMul(tf.ones([1, flat.shape[0]]), flat), [flat.shape[1]]);
}

export function rmsNorm(x: Tensor, weight: Variable, eps: number): Tensor {
  // Where the backend has mceval's RMSNorm kernels (webgpu), the forward and the input gradient are one dispatch each.
  const kernel = hasKernel(RMS_NORM);
  const attrs = { eps } as unknown as NamedAttrMap;
  // A frozen weight (every adapter method) is no input of the op: it needs no gradient, where as an input tfjs would
  // have zeros made for it (a dispatch per norm on webgpu).
  const trainable = weight.trainable;
  // Inputs: x and, when trainable, the weight; customGrad passes the save function last.
  const norm = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as GradSaveFunc;
    const [input, w = weight] = args as [Tensor, Tensor?];
    const [value, reciprocalRms] = kernel
      ? (tf.engine().runKernel(RMS_NORM, { x: input, w }, attrs) as [Tensor, Tensor])
      : composedForward(input, w, eps);
    save([input, reciprocalRms, w]);
    return {
      value,
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const [xs, r, ws] = saved as [Tensor, Tensor, Tensor];
        // x̂ = x·r, made only where the composed gradient or a trainable weight's gradient reads it.
        const normalized = kernel && !trainable ? undefined : tf.mul(xs, r);
        const dx = kernel
          ? (tf.engine().runKernel(RMS_NORM_GRAD, { x: xs, rms: r, w: ws, dy }, attrs) as Tensor)
          : composedInputGradient(normalized!, r, ws, dy);
        return trainable ? [dx, sumToLastAxis(tf.mul(dy, normalized!))] : [dx];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (...inputs: Tensor[]) => Tensor;
  return trainable ? norm(x, weight) : norm(x);
}

/** x·r·w and r = 1/√(mean(x²) + eps) per row, in tfjs ops. */
function composedForward(x: Tensor, w: Tensor, eps: number): [Tensor, Tensor] {
  const reciprocalRms = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
  return [tf.mul(tf.mul(x, reciprocalRms), w), reciprocalRms];
}

/** d/dx of x·r(x)·w: r·(g − x̂·mean(g·x̂)), with g = dy·w, from x̂ = x·r, in tfjs ops. */
function composedInputGradient(normalized: Tensor, r: Tensor, w: Tensor, dy: Tensor): Tensor {
  const g = tf.mul(dy, w);
  const projection = tf.mean(tf.mul(g, normalized), -1, true);
  return tf.mul(tf.sub(g, tf.mul(normalized, projection)), r);
}
