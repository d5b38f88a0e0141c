/**
 * Exact Dirichlet mixture weights (the preset's `mixtureWeights: "dirichlet"`): w = g/Σg with g_k ~ Gamma(α_k, 1),
 * each g_k the Gamma quantile of a pre-drawn uniform u_k, so the noise stays parameter-free and buffered. Gradients
 * to α use implicit reparameterisation (dg/dα at fixed u). The Gamma draws are divided by their row maximum before
 * they leave float64 — w is unchanged, and draws for small α that would underflow float32 keep their ratios
 * (docs/monteclora.md §8 pitfall 5); the divisor is held constant in the gradient, which is exact because w is
 * homogeneous of degree 0 in g.
 */
import { tf, type Tensor } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { gammaQuantile, gammaSampleShapeDerivative } from './gamma.js';

/** u is clamped away from 0 and 1, where the quantile is 0 or ∞. */
const U_MIN = 1e-12;

/** Row-max-scaled Gamma draws [rows, N] for concentration alpha [N] and uniforms [rows·N], and dg/dα of each. */
function scaledGammaDraws(
  alpha: Float32Array | number[],
  uniforms: Float32Array,
): { draws: Float32Array; slopes: Float32Array } {
  const n = alpha.length;
  const draws = new Float32Array(uniforms.length);
  const slopes = new Float32Array(uniforms.length);
  for (let row = 0; row < uniforms.length / n; row++) {
    const raw = Array.from({ length: n }, (_, k) => {
      const u = Math.min(Math.max(uniforms[row * n + k]!, U_MIN), 1 - U_MIN);
      return gammaQuantile(alpha[k]!, u);
    });
    const scale = Math.max(...raw) || 1;
    raw.forEach((g, k) => {
      draws[row * n + k] = g / scale;
      slopes[row * n + k] = g > 0 ? gammaSampleShapeDerivative(alpha[k]!, g) / scale : 0;
    });
  }
  return { draws, slopes };
}

/**
 * Dirichlet(α) weights [rows, N] from `uniforms` (rows·N values), differentiable in α ([N]). The Gamma quantiles are
 * computed on the host from `alphaValues` (α's values, read beforehand) or, when not given, from α read synchronously.
 */
export function dirichletWeights(alpha: Tensor, uniforms: Float32Array, alphaValues?: Float32Array): Tensor {
  const n = alpha.size;
  const rows = uniforms.length / n;
  const gammaDraws = tf.customGrad(((concentration: Tensor, save: (tensors: Tensor[]) => void) => {
    const values = alphaValues ?? (concentration.dataSync() as Float32Array);
    const { draws, slopes } = scaledGammaDraws(values, uniforms);
    const slope = tf.tensor2d(slopes, [rows, n]);
    save([slope]);
    return {
      value: tf.tensor2d(draws, [rows, n]),
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => tf.sum(tf.mul(dy, saved[0]!), 0)),
    };
  }) as unknown as CustomGradientFunc) as unknown as (concentration: Tensor) => Tensor;
  return tf.tidy(() => {
    const g = gammaDraws(alpha);
    return tf.div(g, tf.sum(g, -1, true));
  });
}
