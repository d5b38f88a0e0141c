/**
 * A frozen linear layer with a low-rank update, as one op: y = x·W (+ b) + s·((m ⊙ x)·A)·B, with m an inverted-dropout
 * mask (or none) and s the update's scaling. Gradients flow to x, A and B.
 *
 * Written out as one custom gradient so that a training step keeps only what the backward pass needs — x, the mask and
 * the [tokens, r] product (m ⊙ x)·A — instead of every intermediate (base output, dropped-out input, B-product, scaled
 * update, sum), which tfjs otherwise holds until the end of the step. Forward values are the same ops in the same order
 * as composing frozenLinear, dropout and linear, so outputs are bit-identical; the gradients are the same products
 * (explicit transposes, engine-notes.md; A's and B's by `transposedProduct`), summed in another order.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { tidyGradient, type CustomGradientFunc } from './product.js';
import { transposedProduct } from './transposed-product.js';

export interface LowRankUpdate {
  /** [in, r]. */
  readonly a: Tensor2D;
  /** [r, out]. */
  readonly b: Tensor2D;
  readonly scaling: number;
  /** Inverted-dropout mask shaped like x, or none. */
  readonly mask?: Tensor;
}

export function lowRankLinear(x: Tensor, weight: Tensor2D, bias: Tensor | undefined, update: LowRankUpdate): Tensor {
  const inFeatures = x.shape[x.shape.length - 1]!;
  const flat = (t: Tensor) => tf.reshape(t, [-1, inFeatures]) as Tensor2D;
  const mask = update.mask === undefined ? undefined : flat(update.mask);
  const { scaling } = update;
  const op = tf.customGrad(((input: Tensor2D, a: Tensor2D, b: Tensor2D, save: GradSaveFunc) => {
    const product = tf.matMul(input, weight);
    const base = bias === undefined ? product : tf.add(product, bias);
    const dropped = mask === undefined ? input : tf.mul(input, mask);
    const down = tf.matMul(dropped, a);
    save([input, a, b, down, weight, ...(mask === undefined ? [] : [mask])]);
    return {
      value: tf.add(base, tf.mul(tf.matMul(down, b), scaling)),
      gradFunc: tidyGradient((dy: Tensor2D, saved: Tensor[]) => {
        const [xs, as, bs, downs, ws, masks] = saved as [Tensor2D, Tensor2D, Tensor2D, Tensor2D, Tensor2D, Tensor?];
        // The scaling multiplies the [tokens, r] and [r, out] products rather than dy [tokens, out].
        const dDown = tf.mul(tf.matMul(dy, tf.transpose(bs)), scaling) as Tensor2D;
        const dB = tf.mul(transposedProduct(downs, dy), scaling);
        const droppedAgain = masks === undefined ? xs : (tf.mul(xs, masks) as Tensor2D);
        const dA = transposedProduct(droppedAgain, dDown);
        const dDropped = tf.matMul(dDown, tf.transpose(as));
        const dx = tf.add(tf.matMul(dy, tf.transpose(ws)), masks === undefined ? dDropped : tf.mul(dDropped, masks));
        return [dx, dA, dB];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (x: Tensor2D, a: Tensor2D, b: Tensor2D) => Tensor2D;
  const y = op(flat(x), update.a, update.b);
  return tf.reshape(y, [...x.shape.slice(0, -1), y.shape[1]]);
}
