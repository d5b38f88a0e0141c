/**
 * lnΓ and ψ (digamma): scalar float64 functions, and differentiable tfjs ops built on them (tfjs has neither).
 * The ops compute in JS on the host: MonteCLoRA applies them to a few concentration vectors per step (L·N values),
 * where a chain of elementwise tfjs ops — and its gradient, which tfjs also derives for every scalar operand — cost
 * hundreds of kernel launches for a handful of numbers. Gradients: d lnΓ/dx = ψ(x), dψ/dx = ψ'(x) (trigamma).
 * Differences of lnΓ are always taken, never exp(lgamma): Γ overflows float32 from x ≈ 35.
 */
import { tf, type Tensor } from '../../engine/tf.js';
import type { CustomGradientFunc } from '../../engine/ops/product.js';

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
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, map(saved[0]!, derivative)),
    };
  }) as unknown as CustomGradientFunc) as unknown as (x: Tensor) => Tensor;
}

/** lnΓ(x), elementwise, x > 0, differentiable. */
export const lgamma: (x: Tensor) => Tensor = hostElementwise(logGamma, digammaOf);

/** ψ(x) = d lnΓ(x)/dx, elementwise, x > 0, differentiable. */
export const digamma: (x: Tensor) => Tensor = hostElementwise(digammaOf, trigammaOf);
