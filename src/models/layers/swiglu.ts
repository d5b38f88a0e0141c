/**
 * SwiGLU's gating, silu(gate)·up (Shazeer 2020), with its gradient written out: autodiff would keep the sigmoid and
 * two products (each [tokens, intermediate]) alive for the backward pass; this keeps only gate and up, which the
 * projections' own gradients keep anyway. The forward values are the same ops as before. On webgpu the forward and the
 * gradient are one dispatch each (engine/kernels/webgpu/swiglu.ts), where tfjs ops take three and nine.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { SWIGLU, SWIGLU_GRAD } from '../../engine/kernels/webgpu/swiglu.js';

const gated = tf.customGrad(((gate: Tensor, up: Tensor, save: GradSaveFunc) => {
  save([gate, up]);
  const kernel = hasKernel(SWIGLU);
  return {
    value: kernel
      ? (tf.engine().runKernel(SWIGLU, { gate, up }) as Tensor)
      : tf.mul(tf.mul(gate, tf.sigmoid(gate)), up),
    gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
      const [g, u] = saved as [Tensor, Tensor];
      if (kernel) return tf.engine().runKernel(SWIGLU_GRAD, { gate: g, up: u, dy }) as Tensor[];
      const s = tf.sigmoid(g);
      // silu'(g) = s·(1 + g·(1 − s)).
      const siluGrad = tf.mul(s, tf.add(1, tf.mul(g, tf.sub(1, s))));
      return [tf.mul(tf.mul(dy, u), siluGrad), tf.mul(dy, tf.mul(g, s))];
    }),
  };
}) as unknown as CustomGradientFunc) as unknown as (gate: Tensor, up: Tensor) => Tensor;

export function swiGlu(gate: Tensor, up: Tensor): Tensor {
  return gated(gate, up);
}
