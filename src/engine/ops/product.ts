/**
 * A matrix product whose gradient uses explicit transposes: d(A·B) gives dA = dY·Bᵀ and dB = Aᵀ·dY, each a product
 * without transpose flags. tfjs's own matMul gradient passes transpose flags, which tfjs-wasm runs 10× slower
 * (engine-notes.md). `transpose` swaps the last two axes of an operand (2D or batched 3D).
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';

/** The function type tf.customGrad takes (tfjs-core does not export it from its entry point). */
export type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

export function productWithExplicitTransposes<T extends Tensor>(transpose: (operand: T) => T): (a: T, b: T) => T {
  return tf.customGrad(((a: T, b: T, save: GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: tidyGradient((dy: T, saved: Tensor[]) => {
        const [savedA, savedB] = saved as [T, T];
        return [tf.matMul(dy, transpose(savedB)), tf.matMul(transpose(savedA), dy)];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (a: T, b: T) => T;
}

/**
 * A customGrad gradient function whose intermediates are released as soon as it returns. tfjs calls a customGrad's
 * gradFunc in the scope of the whole backward pass, so without this every temporary (transposes, partial products)
 * lives until the last gradient is computed.
 */
export function tidyGradient<D extends Tensor>(
  gradient: (dy: D, saved: Tensor[]) => Tensor | Tensor[],
): (dy: D, saved: Tensor[]) => Tensor | Tensor[] {
  return (dy, saved) => tf.tidy(() => gradient(dy, saved));
}
