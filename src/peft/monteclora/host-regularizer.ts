/**
 * MonteCLoRA's regulariser terms (kl.ts: KL_G, KL_W, KL_D and the cooperative loss C, summed over layers) as one op
 * whose value and gradient are computed on the host in float64. The tfjs-op form of the same terms is ~300 kernel
 * launches per step with its gradient (a few dozen numbers per layer, each op taped and its inputs saved), more than
 * the adapter's own products on a small model; this is one. Used where tensors can be read synchronously; kl.ts's ops
 * remain the definition (and run on WebGPU), and the two are tested against each other.
 *
 * Derivatives, per element: ∂KL_G/∂Σ = (N/2)(1 − 1/Σ) (Σ > 1e-6, the clamp's side), ∂KL_W/∂s = r(e^{2s} − 1),
 * ∂C/∂w = 2w, and for KL(Dir(α) ‖ Dir(α⁰)) with α₊ = Σ_k α_k:
 *   ∂/∂α_i = (α_i − α⁰_i)ψ'(α_i) − ψ'(α₊) Σ_k(α_k − α⁰_k)   (+ 2ψ(α_i) with the reference code's sign).
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../../engine/tf.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import { digammaOf, logGamma, trigammaOf } from './special-functions.js';
import type { MonteCloraConfig } from './config.js';

/** Every layer's values, flattened row-major: covariance [L·M, r], weights [L·M, N], s [L, r], α [L, N]. */
export interface RegularizerValues {
  readonly covariance: ArrayLike<number>;
  readonly weights: ArrayLike<number>;
  readonly s: ArrayLike<number>;
  readonly alpha: ArrayLike<number>;
  /** α⁰: one symmetric concentration, or one per layer and component [L, N] (the random-prior ablation). */
  readonly prior: number | ArrayLike<number>;
}

export interface RegularizerShape {
  readonly components: number;
  readonly outerSamples: number;
  /** The Dirichlet KL with the published code's sign (docs/monteclora.md §5, deviation 4). */
  readonly referenceSign: boolean;
}

/** The shape of the terms for a config. */
export function regularizerShape(config: MonteCloraConfig): RegularizerShape {
  return {
    components: config.components,
    outerSamples: config.outerSamples,
    referenceSign: config.dirichletKlReferenceSign,
  };
}

/** Each term's weight in the regulariser, (Σ_k weight_k · term_k) / L: β for the three KLs, 1 for C where it is on. */
export function regularizerTermWeights(config: MonteCloraConfig): readonly [number, number, number, number] {
  const β = config.klWeight;
  return [β, β, β, config.cooperativeLoss ? 1 : 0];
}

/** The terms in the order they are returned: KL_G and C are averaged over the M outer samples, as in layer.ts. */
export type RegularizerTerms = [klGaussian: number, klWishart: number, klDirichlet: number, cooperative: number];

const priorAt = (prior: number | ArrayLike<number>, at: number) => (typeof prior === 'number' ? prior : prior[at]!);
const sum = (values: ArrayLike<number>, f: (v: number) => number) => {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += f(values[i]!);
  return total;
};
/** r, from s [L, r] and α [L, N]. */
const rankOf = (x: RegularizerValues, components: number) =>
  x.alpha.length === 0 ? 0 : x.s.length / (x.alpha.length / components);

export function regularizerTermValues(x: RegularizerValues, shape: RegularizerShape): RegularizerTerms {
  const { components: N, outerSamples: M } = shape;
  const rank = rankOf(x, N);
  const klGaussian = ((N / 2) * sum(x.covariance, (c) => c - Math.log(Math.max(c, 1e-6)) - 1)) / M;
  const klWishart = (rank / 2) * sum(x.s, (s) => Math.exp(2 * s) - 2 * s - 1);
  let klDirichlet = 0;
  for (let row = 0; row < x.alpha.length / N; row++) {
    let total = 0;
    let priorTotal = 0;
    for (let k = 0; k < N; k++) {
      total += x.alpha[row * N + k]!;
      priorTotal += priorAt(x.prior, row * N + k);
    }
    let perComponent = 0;
    let expectation = 0;
    for (let k = 0; k < N; k++) {
      const a = x.alpha[row * N + k]!;
      const a0 = priorAt(x.prior, row * N + k);
      perComponent += logGamma(a) - logGamma(a0);
      expectation += (a - a0) * (digammaOf(a) - digammaOf(total));
    }
    const normaliser = logGamma(total) - logGamma(priorTotal);
    klDirichlet += (shape.referenceSign ? normaliser + perComponent : normaliser - perComponent) + expectation;
  }
  const cooperative = sum(x.weights, (w) => w * w) / M;
  return [klGaussian, klWishart, klDirichlet, cooperative];
}

/** The gradients of Σ_t upstream[t]·term_t with respect to the covariance, weights, s and α. */
export function regularizerTermGradients(
  x: RegularizerValues,
  shape: RegularizerShape,
  upstream: ArrayLike<number>,
): { covariance: Float32Array; weights: Float32Array; s: Float32Array; alpha: Float32Array } {
  const { components: N, outerSamples: M } = shape;
  const [dGaussian, dWishart, dDirichlet, dCooperative] = [0, 1, 2, 3].map((t) => upstream[t]!);
  const rank = rankOf(x, N);
  const covariance = Float32Array.from(x.covariance, (c) => (dGaussian * (N / 2) * (1 - (c >= 1e-6 ? 1 / c : 0))) / M);
  const s = Float32Array.from(x.s, (v) => dWishart! * rank * (Math.exp(2 * v) - 1));
  const weights = Float32Array.from(x.weights, (w) => (dCooperative! * 2 * w) / M);
  const alpha = new Float32Array(x.alpha.length);
  for (let row = 0; row < x.alpha.length / N; row++) {
    let total = 0;
    let excess = 0;
    for (let k = 0; k < N; k++) {
      total += x.alpha[row * N + k]!;
      excess += x.alpha[row * N + k]! - priorAt(x.prior, row * N + k);
    }
    const shared = trigammaOf(total) * excess;
    for (let k = 0; k < N; k++) {
      const a = x.alpha[row * N + k]!;
      const own = (a - priorAt(x.prior, row * N + k)) * trigammaOf(a) - shared;
      alpha[row * N + k] = dDirichlet! * (shape.referenceSign ? own + 2 * digammaOf(a) : own);
    }
  }
  return { covariance, weights, s, alpha };
}

/**
 * [KL_G/M, KL_W, KL_D, C/M] summed over layers from every layer's stacked covariance, weights, s and α, differentiable
 * in those four (the prior is a constant): this op, or kl.ts's ops (layer.ts) where tensors cannot be read back
 * synchronously.
 */
export type RegularizerTermsOp = (
  covariance: Tensor,
  weights: Tensor,
  s: Tensor,
  alpha: Tensor,
  prior: number | Tensor,
  shape: RegularizerShape,
) => Tensor;

/** The terms computed on the host; reads its inputs synchronously. */
export const hostRegularizerTerms: RegularizerTermsOp = (covariance, weights, s, alpha, prior, shape) => {
  const priorValues = typeof prior === 'number' ? prior : prior.dataSync();
  const read = (c: Tensor, w: Tensor, sv: Tensor, a: Tensor): RegularizerValues => ({
    covariance: c.dataSync(),
    weights: w.dataSync(),
    s: sv.dataSync(),
    alpha: a.dataSync(),
    prior: priorValues,
  });
  const op = tf.customGrad(((c: Tensor, w: Tensor, sv: Tensor, a: Tensor, save: GradSaveFunc) => {
    save([c, w, sv, a]);
    return {
      value: tf.tensor1d(regularizerTermValues(read(c, w, sv, a), shape)),
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const [sc, sw, ss, sa] = saved as [Tensor, Tensor, Tensor, Tensor];
        const g = regularizerTermGradients(read(sc, sw, ss, sa), shape, dy.dataSync());
        return [
          tf.tensor(g.covariance, sc.shape),
          tf.tensor(g.weights, sw.shape),
          tf.tensor(g.s, ss.shape),
          tf.tensor(g.alpha, sa.shape),
        ];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (c: Tensor, w: Tensor, s: Tensor, a: Tensor) => Tensor;
  return op(covariance, weights, s, alpha);
};
