/**
 * RMSNorm (Zhang & Sennrich 2019) as Llama uses it: x / sqrt(mean(x²) + eps) · weight, over the last axis.
 *
 * Its gradient is written out rather than left to autodiff, which would keep five activation-sized intermediates per
 * norm alive until the backward pass; this keeps x and one reciprocal RMS per row. The forward values are the same ops
 * as before, so outputs are bit-identical. On webgpu the forward and the input gradient are mceval's kernels
 * (engine/kernels/webgpu/rms-norm.ts).
 */
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D, type Variable } from '../../engine/tf.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
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
  return normOp(x, weight, eps, false)[0]!;
}

/**
 * RMSNorm of a decoder's residual stream x, and x passed on for the residual addition: [norm, x], as one op. x's
 * gradient is then the norm's input gradient plus the passed x's, where x with two consumers would have tfjs add
 * them by a dispatch; on webgpu the norm's gradient kernel adds it as it writes, on the host it is added in the order
 * tfjs's tape added it (the same bits). Passing x costs nothing: a clone shares its buffer.
 */
export function rmsNormPassing(x: Tensor, weight: Variable, eps: number): [Tensor, Tensor] {
  const [normed, passed] = normOp(x, weight, eps, true);
  return [normed!, passed!];
}

function normOp(x: Tensor, weight: Variable, eps: number, passing: boolean): Tensor[] {
  // Where the backend has mceval's RMSNorm kernels (webgpu), the forward and the input gradient are one dispatch each.
  const kernel = hasKernel(RMS_NORM);
  const attrs = { eps } as unknown as NamedAttrMap;
  // A frozen weight (every adapter method) is no input of the op: it needs no gradient, where as an input tfjs would
  // have zeros made for it (a dispatch per norm on webgpu).
  const trainable = weight.trainable;
  return runMultiOutputOp(trainable ? [x, weight] : [x], {
    forward: ([input, w = weight], save) => {
      const [value, reciprocalRms] = kernel
        ? (tf.engine().runKernel(RMS_NORM, { x: input!, w }, attrs) as [Tensor, Tensor])
        : composedForward(input!, w, eps);
      save([input!, reciprocalRms, w]);
      return passing ? [value, tf.clone(input!)] : [value];
    },
    backward: ([dy, passed], saved) => {
      const [xs, r, ws] = saved as [Tensor, Tensor, Tensor];
      // x̂ = x·r, made only where the composed gradient or a trainable weight's gradient reads it.
      const normalized = kernel && !trainable ? undefined : tf.mul(xs, r);
      const addend: Record<string, Tensor> = passing ? { addend: passed! } : {};
      const dx = kernel
        ? (tf.engine().runKernel(RMS_NORM_GRAD, { x: xs, rms: r, w: ws, dy: dy!, ...addend }, attrs) as Tensor)
        : plus(passed, composedInputGradient(normalized!, r, ws, dy!));
      return trainable ? [dx, sumToLastAxis(tf.mul(dy!, normalized!))] : [dx];
    },
  });
}

/** addend + t, or t alone. */
const plus = (addend: Tensor | undefined, t: Tensor) => (addend === undefined ? t : tf.add(addend, t));

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
