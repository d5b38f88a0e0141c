/**
 * Linear maps whose forward and backward passes are plain 2D matMuls without transpose flags: the only fast matmul
 * path on tfjs-wasm (~30 GFLOP/s, against 1–3 for batched or transposed products and for matMul's default gradient,
 * engine-notes.md). Transposes are done explicitly, and inputs of any rank are flattened to 2D first.
 *
 * Weights are stored [in, out] so that the forward product needs no transpose.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import {
  differentiableProduct,
  plainProduct,
  productPlus,
  productTransposedLeft,
  productTransposedRight,
  tidyGradient,
  type CustomGradientFunc,
} from './product.js';

/** x [..., in] as the 2D [rows, in] the products take. */
export function flatten(x: Tensor): Tensor2D {
  const inFeatures = x.shape[x.shape.length - 1]!;
  return tf.reshape(x, [-1, inFeatures]) as Tensor2D;
}

/** A 2D product's rows [rows, out] in the leading shape of the input `like` it was flattened from. */
export function restore(y: Tensor2D, like: Tensor): Tensor {
  return tf.reshape(y, [...like.shape.slice(0, -1), y.shape[1]]);
}

const trainableProduct = differentiableProduct<Tensor2D>();

/** y = x·W for a trainable W: gradients flow to both x and W. */
export function linear(x: Tensor, w: Tensor2D): Tensor {
  return restore(trainableProduct(flatten(x), w), x);
}

/**
 * A product with a frozen weight: W is closed over rather than passed in, so the tape never asks for its gradient and
 * the backward pass costs one product (the input's) instead of two.
 */
function frozenWeightProduct(
  x: Tensor,
  w: Tensor2D,
  value: (input: Tensor2D, w: Tensor2D) => Tensor2D,
  inputGradient: (dy: Tensor2D, w: Tensor2D) => Tensor2D,
): Tensor {
  const product = tf.customGrad(((input: Tensor2D, save: GradSaveFunc) => {
    // Saved, not just closed over: a W created inside the forward pass would otherwise be gone by the backward one.
    save([w]);
    return {
      value: value(input, w),
      gradFunc: tidyGradient((dy: Tensor2D, saved: Tensor[]) => [inputGradient(dy, saved[0] as Tensor2D)]),
    };
  }) as unknown as CustomGradientFunc) as (input: Tensor2D) => Tensor2D;
  return restore(product(flatten(x)), x);
}

/** y = x·W for a frozen W (dx = dy·Wᵀ). */
export function frozenLinear(x: Tensor, w: Tensor2D): Tensor {
  return frozenWeightProduct(x, w, plainProduct, productTransposedRight);
}

/**
 * residual + x·W for a frozen W: a decoder's residual stream, added inside the product where mceval's tiles take it
 * (productPlus; on webgpu no dispatch of its own). dx = dy·Wᵀ, and the residual's gradient is dy.
 */
export function frozenLinearPlus(x: Tensor, w: Tensor2D, residual: Tensor): Tensor {
  const op = tf.customGrad(((input: Tensor2D, addend: Tensor2D, save: GradSaveFunc) => {
    save([w]);
    return {
      value: productPlus(input, w, addend),
      // The residual's gradient is the output's, passed on (ops/multi-output.ts says why no clone).
      gradFunc: tidyGradient((dy: Tensor2D, saved: Tensor[]) => [productTransposedRight(dy, saved[0] as Tensor2D), dy]),
    };
  }) as unknown as CustomGradientFunc) as (input: Tensor2D, addend: Tensor2D) => Tensor2D;
  return restore(op(flatten(x), tf.reshape(residual, [-1, w.shape[1]]) as Tensor2D), x);
}

/**
 * y = x·Wᵀ for W stored [out, in]: a tied LM head reading the embedding [vocab, hidden] as it is stored. The input's
 * gradient dy·W is then a plain product — through tfjs's matMul gradient it was a transposed one, ~10× slower on wasm
 * and, with a large vocabulary, most of a step. W's gradient dyᵀ·x is formed only when W is trainable.
 */
export function linearTransposedWeight(x: Tensor, w: Tensor2D, trainable: boolean): Tensor {
  if (!trainable) return frozenWeightProduct(x, w, productTransposedRight, plainProduct);
  const product = tf.customGrad(((input: Tensor2D, weight: Tensor2D, save: GradSaveFunc) => {
    save([input, weight]);
    return {
      value: productTransposedRight(input, weight),
      gradFunc: tidyGradient((dy: Tensor2D, saved: Tensor[]) => {
        const [savedInput, savedWeight] = saved as [Tensor2D, Tensor2D];
        return [plainProduct(dy, savedWeight), productTransposedLeft(dy, savedInput)];
      }),
    };
  }) as unknown as CustomGradientFunc) as (input: Tensor2D, weight: Tensor2D) => Tensor2D;
  return restore(product(flatten(x), w), x);
}
