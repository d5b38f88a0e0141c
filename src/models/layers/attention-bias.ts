/**
 * The additive attention bias of a decoder: 0 where query i may attend to key j (j ≤ i and j is a real token), a
 * large negative number elsewhere. A constant with no gradient, built in JavaScript.
 */
import { tf, type Tensor } from '../../engine/tf.js';
import type { PaddedBatch } from '../tokenizers/padding.js';

/** Large enough to zero a softmax term in float32, small enough that a fully masked row stays finite. */
export const MASKED = -1e9;

export function causalAttentionBias(batch: PaddedBatch): Tensor {
  const { batchSize: B, length: T, mask } = batch;
  const bias = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        bias[(b * T + i) * T + j] = j <= i && mask[b * T + j] === 1 ? 0 : MASKED;
      }
    }
  }
  return tf.tensor(bias, [B, 1, T, T]);
}
