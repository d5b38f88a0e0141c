/**
 * The additive attention bias: 0 where query i may attend to key j (a real token, and j ≤ i in a decoder), a large
 * negative number elsewhere. A constant with no gradient, built in JavaScript.
 */
import { tf, type Tensor } from '../../engine/tf.js';

/** Large enough to zero a softmax term in float32, small enough that a fully masked row stays finite. */
export const MASKED = -1e9;

/**
 * [batch, 1, queries, keys]: the queries are the last `queries` of `keys` positions, so query i sits at key position
 * keys − queries + i and may attend to keys up to it that `keyMask` ([batch, keys]) marks real — or, not `causal`
 * (an encoder), to every real key.
 */
export function attentionBias(
  keyMask: Int32Array,
  batchSize: number,
  queries: number,
  keys: number,
  causal = true,
): Tensor {
  const offset = causal ? keys - queries : keys - 1;
  const bias = new Float32Array(batchSize * queries * keys);
  for (let b = 0; b < batchSize; b++) {
    for (let i = 0; i < queries; i++) {
      for (let j = 0; j < keys; j++) {
        bias[(b * queries + i) * keys + j] = j <= offset + i && keyMask[b * keys + j] === 1 ? 0 : MASKED;
      }
    }
  }
  return tf.tensor(bias, [batchSize, 1, queries, keys]);
}
