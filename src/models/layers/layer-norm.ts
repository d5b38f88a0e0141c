import { tf, type Tensor, type Variable } from '../../engine/tf.js';

/** LayerNorm over the last axis: (x − mean) / √(var + eps) · weight + bias (biased variance, as torch). */
export function layerNorm(x: Tensor, weight: Variable, bias: Variable, eps: number): Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), weight), bias);
}

/** Exact GELU, x·Φ(x) = ½x(1 + erf(x/√2)): transformers' "gelu" activation. */
export function gelu(x: Tensor): Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
