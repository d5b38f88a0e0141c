/**
 * The KL terms of MonteCLoRA exactly as docs/monteclora.md §3 states them (tfjs ops, differentiable). Each takes one
 * layer's tensors, or every layer's stacked along a leading axis ([L, r], [L, N]), and returns the sum over layers:
 * one set of ops for the whole model instead of one per layer, since per-op overhead dominates on tfjs-wasm.
 */
import { tf, type Scalar, type Tensor } from '../../engine/tf.js';
import { digamma, lgamma } from './special-functions.js';

/**
 * KL_G = N · ½ Σ_j (Σ_jj − ln Σ_jj − 1): the single-sample estimate of KL(N(0, Σ) ‖ N(0, I)) for the diagonal
 * covariance sample Σ, times the number of mixture components N. Σ is clamped at 1e-6 before the log, as the
 * reference does.
 */
export function gaussianKl(covarianceDiagonal: Tensor, components: number): Scalar {
  return tf.tidy(() => {
    const clamped = tf.maximum(covarianceDiagonal, 1e-6);
    return tf.mul(tf.sum(tf.sub(tf.sub(covarianceDiagonal, tf.log(clamped)), 1)), components * 0.5) as Scalar;
  });
}

/**
 * KL_W = (r/2) Σ_j (v_j − ln v_j − 1) with v = e^{2s}: the exact KL(W(r, diag v) ‖ W(r, I)) (the multivariate gamma
 * and digamma terms cancel because degrees of freedom and dimension match). ln v is 2s, computed without the log.
 */
export function wishartKl(s: Tensor): Scalar {
  return tf.tidy(() => {
    const rank = s.shape[s.rank - 1]!;
    const v = tf.exp(tf.mul(s, 2));
    return tf.mul(tf.sum(tf.sub(tf.sub(v, tf.mul(s, 2)), 1)), rank / 2) as Scalar;
  });
}

/**
 * KL(Dir(α) ‖ Dir(α⁰)) = lnΓ(α₊) − lnΓ(α⁰₊) − Σ_k[lnΓ(α_k) − lnΓ(α⁰_k)] + Σ_k(α_k − α⁰_k)(ψ(α_k) − ψ(α₊)).
 * The prior is a symmetric concentration (a number) or one vector per row of α (the random-prior ablation).
 * `referenceSign` reproduces the published code's sign (docs/monteclora.md §5, deviation 4: +Σ_k[…]), which can go negative.
 */
export function dirichletKl(alpha: Tensor, prior: number | Tensor, referenceSign = false): Scalar {
  return tf.tidy(() => {
    const priorAlpha = typeof prior === 'number' ? tf.fill(alpha.shape, prior) : tf.broadcastTo(prior, alpha.shape);
    const total = tf.sum(alpha, -1, true);
    const normaliser = tf.sum(tf.sub(lgamma(total), lgamma(tf.sum(priorAlpha, -1, true))));
    const perComponent = tf.sum(tf.sub(lgamma(alpha), lgamma(priorAlpha)));
    const expectation = tf.sum(tf.mul(tf.sub(alpha, priorAlpha), tf.sub(digamma(alpha), digamma(total))));
    const signed = referenceSign ? tf.add(normaliser, perComponent) : tf.sub(normaliser, perComponent);
    return tf.add(signed, expectation) as Scalar;
  });
}

/** C = Σ_k w_k², minimised by uniform weights: the cooperative loss that keeps every component in use. */
export function cooperativeLoss(weights: Tensor): Scalar {
  return tf.tidy(() => tf.sum(tf.square(weights)) as Scalar);
}
