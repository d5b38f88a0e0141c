import { tf, type Tensor, type Variable } from '../../engine/tf.js';

/** RMSNorm (Zhang & Sennrich 2019) as Llama uses it: x / sqrt(mean(x²) + eps) · weight, over the last axis. */
export function rmsNorm(x: Tensor, weight: Variable, eps: number): Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
}
