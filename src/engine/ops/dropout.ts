/** Inverted dropout whose mask comes from mceval's seeded generator, so it is identical on every backend. */
import { tf, type Tensor } from '../tf.js';
import type { Rng } from '../rng.js';

export function dropout(x: Tensor, rate: number, rng: Rng | undefined): Tensor {
  if (rate <= 0) return x;
  if (rng === undefined) throw new Error('dropout in training mode needs a seeded generator');
  const keep = 1 - rate;
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.uniform() < keep ? 1 / keep : 0;
  return tf.mul(x, tf.tensor(mask, x.shape, 'float32'));
}
