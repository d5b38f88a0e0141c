/**
 * lnΓ and ψ (digamma): scalar float64 functions, and differentiable tfjs ops built on them (tfjs has neither).
 * The ops compute in JS on the host: MonteCLoRA applies them to a few concentration vectors per step (L·N values),
 * where a chain of elementwise tfjs ops — and its gradient, which tfjs also derives for every scalar operand — cost
 * hundreds of kernel launches for a handful of numbers. Gradients: d lnΓ/dx = ψ(x), dψ/dx = ψ'(x) (trigamma).
 * Differences of lnΓ are always taken, never exp(lgamma): Γ overflows float32 from x ≈ 35.
 */
import { tf, type Tensor } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { readsSynchronously } from '../../engine/host-reads.js';

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** ψ(x) for x > 0: the recurrence ψ(x) = ψ(x+1) − 1/x up to x ≥ 6, then the asymptotic series (error < 1e-11). */
export function digammaOf(x: number): number {
  let shift = 0;
  while (x < 6) {
    shift -= 1 / x;
    x += 1;
  }
  const inv2 = 1 / (x * x);
  const series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))));
  return shift + Math.log(x) - 0.5 / x - series;
}

/** ψ'(x) for x > 0: ψ'(x) = ψ'(x+1) + 1/x² up to x ≥ 6, then the asymptotic series (error < 1e-9). */
export function trigammaOf(x: number): number {
  let shift = 0;
  while (x < 6) {
    shift += 1 / (x * x);
    x += 1;
  }
  const inv = 1 / x;
  const inv2 = inv * inv;
  const series = inv + inv2 / 2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (1 / 42 - inv2 / 30)));
  return shift + series;
}

/** An elementwise op computed on the host in float64, with derivative `derivative`. */
function hostElementwise(value: (x: number) => number, derivative: (x: number) => number): (x: Tensor) => Tensor {
  const map = (x: Tensor, f: (v: number) => number) => tf.tensor(Float32Array.from(x.dataSync(), f), x.shape);
  return tf.customGrad(((x: Tensor, save: (tensors: Tensor[]) => void) => {
    save([x]);
    return {
      value: map(x, value),
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => tf.mul(dy, map(saved[0]!, derivative))),
    };
  }) as unknown as CustomGradientFunc) as unknown as (x: Tensor) => Tensor;
}

/** Σ_{k=0}^{5} term(x + k): the recurrence that moves x > 0 to x + 6, where the asymptotic series hold. */
function shiftSum(x: Tensor, term: (shifted: Tensor) => Tensor): Tensor {
  return [0, 1, 2, 3, 4, 5].map((k) => term(tf.add(x, k))).reduce((a, b) => tf.add(a, b));
}

/** z·(c₁ − z·(c₂ − z·(… − z·cₙ))), the nested form of an alternating series in z = 1/y². */
function nestedSeries(z: Tensor, coefficients: readonly number[]): Tensor {
  let series = tf.mul(z, coefficients.at(-1)!);
  for (const c of coefficients.slice(0, -1).reverse()) series = tf.mul(z, tf.sub(c, series));
  return series;
}

/** ψ(x) in tfjs ops (float32): ψ(x+6) by its asymptotic series, minus Σ_k 1/(x+k). */
function digammaOps(x: Tensor): Tensor {
  const y = tf.add(x, 6);
  const series = nestedSeries(tf.reciprocal(tf.square(y)), [1 / 12, 1 / 120, 1 / 252, 1 / 240, 1 / 132]);
  return tf.sub(tf.sub(tf.sub(tf.log(y), tf.div(0.5, y)), series), shiftSum(x, tf.reciprocal));
}

/** ψ'(x) in tfjs ops: ψ'(x+6) by its asymptotic series, plus Σ_k 1/(x+k)². */
function trigammaOps(x: Tensor): Tensor {
  const inv = tf.reciprocal(tf.add(x, 6));
  const inv2 = tf.square(inv);
  const tail = nestedSeries(inv2, [1 / 30, 1 / 42, 1 / 30]);
  const series = tf.add(tf.add(inv, tf.div(inv2, 2)), tf.mul(tf.mul(inv, inv2), tf.sub(1 / 6, tail)));
  return tf.add(
    series,
    shiftSum(x, (shifted) => tf.reciprocal(tf.square(shifted))),
  );
}

/** lnΓ(x) in tfjs ops: Stirling's series at x + 6, minus Σ_k ln(x+k). */
function logGammaOps(x: Tensor): Tensor {
  const y = tf.add(x, 6);
  const inv = tf.reciprocal(y);
  const tail = nestedSeries(tf.square(inv), [1 / 360, 1 / 1260, 1 / 1680]);
  const stirling = tf.add(
    tf.add(tf.sub(tf.mul(tf.sub(y, 0.5), tf.log(y)), y), 0.5 * Math.log(2 * Math.PI)),
    tf.mul(inv, tf.sub(1 / 12, tail)),
  );
  return tf.sub(stirling, shiftSum(x, tf.log));
}

/** An elementwise op built from tfjs ops, with derivative `derivative`, for backends without synchronous reads. */
function deviceElementwise(value: (x: Tensor) => Tensor, derivative: (x: Tensor) => Tensor): (x: Tensor) => Tensor {
  return tf.customGrad(((x: Tensor, save: (tensors: Tensor[]) => void) => {
    save([x]);
    return {
      value: value(x),
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => tf.mul(dy, derivative(saved[0]!))),
    };
  }) as unknown as CustomGradientFunc) as unknown as (x: Tensor) => Tensor;
}

const hostLgamma = hostElementwise(logGamma, digammaOf);
const hostDigamma = hostElementwise(digammaOf, trigammaOf);
export const deviceLgamma = deviceElementwise(logGammaOps, digammaOps);
export const deviceDigamma = deviceElementwise(digammaOps, trigammaOps);

/**
 * lnΓ(x), elementwise, x > 0, differentiable. WebGPU cannot read tensors back synchronously: there this and digamma
 * run as device ops (float32).
 */
export const lgamma = (x: Tensor): Tensor => (readsSynchronously() ? hostLgamma(x) : deviceLgamma(x));

/** ψ(x) = d lnΓ(x)/dx, elementwise, x > 0, differentiable. */
export const digamma = (x: Tensor): Tensor => (readsSynchronously() ? hostDigamma(x) : deviceDigamma(x));
