/**
 * A low-rank layer's weight gradients, dA = (m ⊙ x)ᵀ·dDown [in, r] and dB = s·downᵀ·dy [r, out], for x [tokens, in], an
 * inverted-dropout mask shaped like x (or none), dDown and down [tokens, r], dy [tokens, out]. On webgpu one kernel
 * computes both, split over the tokens (kernels/webgpu/weight-gradients.ts), unless
 * MCEVAL_WEBGPU_WEIGHT_GRADIENTS=tfjs; elsewhere each is a `transposedProduct`, after the mask's multiplication. No
 * gradient: it is used inside gradient functions.
 */
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { transposedProduct } from './transposed-product.js';
import { hasKernel } from '../kernels/has-kernel.js';
import {
  LOW_RANK_WEIGHT_GRADIENTS,
  splitWeightGradients,
  type WeightGradientAttrs,
} from '../kernels/webgpu/weight-gradients.js';

export interface WeightGradientOperands {
  readonly x: Tensor2D;
  readonly mask?: Tensor;
  readonly dDown: Tensor2D;
  readonly down: Tensor2D;
  readonly dy: Tensor2D;
  /** Multiplies dB (the update's scaling); 1 by default. */
  readonly dyScale?: number;
}

/** [dA, dB]. */
export function lowRankWeightGradients(operands: WeightGradientOperands): [Tensor2D, Tensor2D] {
  const { x, mask, dDown, down, dy, dyScale = 1 } = operands;
  if (hasKernel(LOW_RANK_WEIGHT_GRADIENTS) && splitWeightGradients()) {
    const inputs = { x, dDown, down, dy, ...(mask === undefined ? {} : { mask }) };
    const attrs: WeightGradientAttrs = { dyScale };
    return tf.engine().runKernel(LOW_RANK_WEIGHT_GRADIENTS, inputs as never, attrs as never) as unknown as [
      Tensor2D,
      Tensor2D,
    ];
  }
  const dropped = mask === undefined ? x : (tf.mul(x, mask) as Tensor2D);
  const dB = transposedProduct(down, dy);
  return [transposedProduct(dropped, dDown), dyScale === 1 ? dB : (tf.mul(dB, dyScale) as Tensor2D)];
}
