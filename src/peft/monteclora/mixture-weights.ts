/**
 * Mixture weights from the logistic-normal (Laplace, ProdLDA-style) approximation of Dir(α), α = max(e^p, 1e-6)
 * (docs/monteclora.md §2 step 3):
 *   μ_k = ln α_k − mean_j ln α_j
 *   v_k = max((1/α_k)(1 − 2/N) + N⁻² Σ_j 1/α_j, 1e-6) + 1e-6
 *   w = softmax(μ + √v ⊙ z),  z ~ N(0, I)
 */
import { tf, type Tensor } from '../../engine/tf.js';

export function concentration(p: Tensor): Tensor {
  return tf.maximum(tf.exp(p), 1e-6);
}

/** μ and v (v without the final +1e-6 jitter, as the spec's test vector states it), along the last axis. */
export function logisticNormalParameters(alpha: Tensor): { mu: Tensor; v: Tensor } {
  return tf.tidy(() => {
    const n = alpha.shape[alpha.rank - 1]!;
    const logAlpha = tf.log(alpha);
    const mu = tf.sub(logAlpha, tf.mean(logAlpha, -1, true));
    const inverse = tf.reciprocal(alpha);
    const v = tf.maximum(tf.add(tf.mul(inverse, 1 - 2 / n), tf.div(tf.sum(inverse, -1, true), n * n)), 1e-6);
    return { mu, v };
  });
}

/** w = softmax(μ + √(v + 1e-6) ⊙ z) along the last axis; p and z broadcast (e.g. p [L, 1, N], z [L, M, N]). */
export function mixtureWeights(p: Tensor, noise: Tensor): Tensor {
  return tf.tidy(() => {
    const { mu, v } = logisticNormalParameters(concentration(p));
    return tf.softmax(tf.add(mu, tf.mul(tf.sqrt(tf.add(v, 1e-6)), noise)));
  });
}
