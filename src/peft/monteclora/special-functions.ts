/**
 * lnΓ and ψ (digamma) as differentiable tfjs ops, for x > 0 (tfjs has neither). Both shift the argument by 8 with
 * the recurrences lnΓ(x) = lnΓ(x+8) − ln Π_{i<8}(x+i) and ψ(x) = ψ(x+8) − Σ_{i<8} 1/(x+i), then use the asymptotic
 * series at x+8 ≥ 8, whose truncation error there is below 1e-10; float32 rounding dominates (~1e-6 relative).
 * Differentiating ψ's series gives trigamma to the same accuracy, so gradients through the Dirichlet KL are exact
 * enough without a trigamma of their own.
 */
import { tf, type Tensor } from '../../engine/tf.js';

const SHIFT = 8;
const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

function shifted(x: Tensor): Tensor {
  return tf.add(x, SHIFT);
}

/** lnΓ(x), elementwise, x > 0. Never exp(lgamma): differences of lnΓ stay finite where Γ overflows. */
export function lgamma(x: Tensor): Tensor {
  return tf.tidy(() => {
    let product = x;
    for (let i = 1; i < SHIFT; i++) product = tf.mul(product, tf.add(x, i));
    const z = shifted(x);
    const inverse = tf.reciprocal(z);
    const inverseSquare = tf.square(inverse);
    // 1/(12z) − 1/(360z³) + 1/(1260z⁵) − 1/(1680z⁷)
    const series = tf.mul(
      inverse,
      tf.sub(
        1 / 12,
        tf.mul(inverseSquare, tf.sub(1 / 360, tf.mul(inverseSquare, tf.sub(1 / 1260, tf.div(inverseSquare, 1680))))),
      ),
    );
    const stirling = tf.add(tf.sub(tf.mul(tf.sub(z, 0.5), tf.log(z)), z), tf.add(series, HALF_LOG_TWO_PI));
    return tf.sub(stirling, tf.log(product));
  });
}

/** ψ(x) = d lnΓ(x)/dx, elementwise, x > 0. */
export function digamma(x: Tensor): Tensor {
  return tf.tidy(() => {
    let reciprocals = tf.reciprocal(x);
    for (let i = 1; i < SHIFT; i++) reciprocals = tf.add(reciprocals, tf.reciprocal(tf.add(x, i)));
    const z = shifted(x);
    const inverse = tf.reciprocal(z);
    const inverseSquare = tf.square(inverse);
    // ln z − 1/(2z) − 1/(12z²) + 1/(120z⁴) − 1/(252z⁶)
    const series = tf.mul(
      inverseSquare,
      tf.sub(1 / 12, tf.mul(inverseSquare, tf.sub(1 / 120, tf.div(inverseSquare, 252)))),
    );
    const asymptotic = tf.sub(tf.sub(tf.log(z), tf.mul(inverse, 0.5)), series);
    return tf.sub(asymptotic, reciprocals);
  });
}
