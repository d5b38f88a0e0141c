/** Inverted dropout whose mask comes from mceval's seeded generator, so it is identical on every backend. */
import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../rng.js';
import { filledTensor } from '../kernels/backend-output.js';

/** The mask (1/keep where kept, 0 where dropped) for a tensor of this shape, or undefined when nothing is dropped. */
export function dropoutMask(shape: number[], rate: number, rng: Rng | undefined): Tensor | undefined {
  if (rate <= 0) return undefined;
  if (rng === undefined) throw new Error('dropout in training mode needs a seeded generator');
  const keep = 1 - rate;
  const size = shape.reduce((a, b) => a * b, 1);
  return filledTensor(shape, (values) => rng.keepMask(size, keep, 1 / keep, values));
}

export function dropout(x: Tensor, rate: number, rng: Rng | undefined): Tensor {
  const mask = dropoutMask(x.shape, rate, rng);
  return mask === undefined ? x : tf.mul(x, mask);
}
