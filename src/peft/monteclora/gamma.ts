/**
 * The Gamma(a, 1) distribution in float64, for the exact Dirichlet option: the regularised lower incomplete gamma
 * function P(a, x), its inverse in x (the quantile, so a sample is a deterministic function of a uniform draw and
 * of a), and the implicit reparameterisation derivative dx/da = −(∂P/∂a)/p(x; a) (Figurnov et al. 2018), which holds
 * the draw's quantile u fixed. Plain JS numbers: these run per component (N of them), never per weight.
 */
import { logGamma } from './special-functions.js';

/** P(a, x) = γ(a, x)/Γ(a): the series below a + 1, the continued fraction (modified Lentz) above. */
export function regularizedLowerGamma(a: number, x: number): number {
  if (x <= 0) return 0;
  const logPrefix = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return sum * Math.exp(logPrefix);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let n = 1; n < 10_000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 - Math.exp(logPrefix) * h;
}

/** The Gamma(a, 1) density at x. */
export function gammaDensity(a: number, x: number): number {
  return Math.exp((a - 1) * Math.log(x) - x - logGamma(a));
}

/** Φ⁻¹(p) to ~4.5e-4 (Abramowitz & Stegun 26.2.23): only a starting point for Newton–Halley. */
function approximateNormalQuantile(p: number): number {
  const q = p < 0.5 ? p : 1 - p;
  const t = Math.sqrt(-2 * Math.log(q));
  const z =
    t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t ** 3);
  return p < 0.5 ? -z : z;
}

/** x with P(a, x) = u: a Wilson–Hilferty (a > 1) or power-law (a ≤ 1) start, then Halley steps. */
export function gammaQuantile(a: number, u: number): number {
  let x: number;
  if (a > 1) {
    const z = approximateNormalQuantile(u);
    x = Math.max(1e-3, a * (1 - 1 / (9 * a) + z / (3 * Math.sqrt(a))) ** 3);
  } else {
    const t = 1 - a * (0.253 + a * 0.12);
    x = u < t ? (u / t) ** (1 / a) : 1 - Math.log(1 - (u - t) / (1 - t));
  }
  for (let iteration = 0; iteration < 100; iteration++) {
    if (x <= 0) return 0;
    const error = regularizedLowerGamma(a, x) - u;
    const density = gammaDensity(a, x);
    if (density === 0) break;
    const newton = error / density;
    const step = newton / (1 - 0.5 * Math.min(1, newton * ((a - 1) / x - 1)));
    const next = x - step;
    x = next <= 0 ? x / 2 : next;
    if (Math.abs(step) < 1e-13 * x) break;
  }
  return x;
}

/**
 * dx/da at fixed P(a, x) = u: −(∂P/∂a)/p(x; a), with ∂P/∂a by a central difference in float64 (step 1e-6·max(1, a);
 * truncation and rounding both near 1e-10, far below float32's resolution).
 */
export function gammaSampleShapeDerivative(a: number, x: number): number {
  const h = 1e-6 * Math.max(1, a);
  const dPda = (regularizedLowerGamma(a + h, x) - regularizedLowerGamma(a - h, x)) / (2 * h);
  return -dPda / gammaDensity(a, x);
}
