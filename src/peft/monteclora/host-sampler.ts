/**
 * The group sampler's maths (group-sampler.ts) and the regulariser's terms (host-regularizer.ts) for every layer of a
 * model as one op computed on the host: from each layer's A, s and p and its noise, every layer's perturbed
 * A + ε·Σ_n w_n E_n, the stacked Σ and w, and the terms [KL_G/M, KL_W, KL_D, C/M]; its backward returns ∂/∂A and the
 * ∂/∂s and ∂/∂p of each layer, derived by hand below. In tfjs ops the same maths is ~200 kernel launches per training
 * step with its gradient (a few numbers per layer, each op taped and its inputs saved) plus an add per layer and a
 * gradient sum per prior, which on a small model costs more than the adapter's products; this is one node. Values are
 * computed in float64 and handed on as float32 (Σ and w rounded first, so that everything computed from them agrees
 * with the tensors the op returns). Used with logistic-normal weights where tensors read synchronously;
 * group-sampler.ts's ops stay the definition (and run on WebGPU and for exact Dirichlet weights), and the two are
 * tested against each other (test/monteclora-host-sampler.test.ts).
 *
 * Per layer, with e = e^{2s}, Σ_mj = max(e_j·c_mj, 1e-3), σ_mj = ε′√Σ_mj, X_m = Σ_n m_mn Z_mn (m = w, or one-hot at
 * argmax w for the sparse ablation), P = (1/M) Σ_m X_m·diag(σ_m), and upstream gradients G = ∂/∂P, Σ̄, w̄:
 *   ∂σ_mj = (1/M) Σ_i G_ij X_m,ij          ∂m_mn = (1/M) Σ_ij G_ij σ_mj Z_mn,ij
 *   ∂Σ_mj = Σ̄_mj + ∂σ_mj·ε′/(2√Σ_mj)       ∂s_j = Σ_m [e_j c_mj ≥ 1e-3]·∂Σ_mj·2e_j c_mj
 * and through w = softmax(μ + √(v + 1e-6)·z) (mixture-weights.ts) to α = max(e^p, 1e-6) and p.
 */
import { tf, type Tensor } from '../../engine/tf.js';
import { filledTensor, inputValues } from '../../engine/kernels/backend-output.js';
import { runMultiOutputOp } from '../../engine/ops/multi-output.js';
import type { MonteCloraConfig } from './config.js';
import type { LayerNoise } from './noise.js';
import {
  regularizerShape,
  regularizerTermGradients,
  regularizerTermValues,
  type RegularizerValues,
} from './host-regularizer.js';

/** The sampler's settings, from the config. */
export interface SampleShape {
  readonly rank: number;
  readonly components: number;
  readonly outerSamples: number;
  /** ε′: ε, or ε² under the reference code's doubleScale. */
  readonly scale: number;
  readonly sparse: boolean;
}

export function sampleShape(config: MonteCloraConfig): SampleShape {
  return {
    rank: config.r,
    components: config.components,
    outerSamples: config.outerSamples,
    scale: config.doubleScale ? config.sampleScaler * config.sampleScaler : config.sampleScaler,
    sparse: config.sparseMixture,
  };
}

/** One layer's draw and what its gradient needs. Flat row-major arrays; M outer samples, N components, rank r. */
export interface LayerSample {
  /** Σ before its floor, [M·r]. */
  readonly unclamped: Float64Array;
  /** Σ [M·r], float32. */
  readonly covariance: Float32Array;
  /** e^p [N] and α = max(e^p, 1e-6) [N]. */
  readonly expP: Float64Array;
  readonly alpha: Float64Array;
  /** v before its floor, and √(v + 1e-6), [N]. */
  readonly unclampedVariance: Float64Array;
  readonly deviation: Float64Array;
  /** w [M·N] in float64 (for the gradient) and float32. */
  readonly exactWeights: Float64Array;
  readonly weights: Float32Array;
  /** The weights that mix the Gaussians: w, or one-hot at argmax w. */
  readonly mixing: Float64Array;
  /** σ = ε′√Σ [M·r]. */
  readonly columnScale: Float64Array;
}

export function sampleLayer(
  s: ArrayLike<number>,
  p: ArrayLike<number>,
  noise: LayerNoise,
  shape: SampleShape,
): LayerSample {
  // Plain loops throughout: this runs for every layer of every step, and V8's mapping constructors
  // (Float64Array.from with a function) cost ~100 ns per element.
  const { rank: r, components: N, outerSamples: M } = shape;
  const scaleSquared = new Float64Array(r);
  for (let j = 0; j < r; j++) scaleSquared[j] = Math.exp(2 * s[j]!);
  const unclamped = new Float64Array(M * r);
  const covariance = new Float32Array(M * r);
  const columnScale = new Float64Array(M * r);
  for (let k = 0; k < M * r; k++) {
    unclamped[k] = scaleSquared[k % r]! * noise.chiSquare[k]!;
    covariance[k] = Math.max(unclamped[k]!, 1e-3);
    columnScale[k] = shape.scale * Math.sqrt(covariance[k]!);
  }
  const expP = new Float64Array(N);
  const alpha = new Float64Array(N);
  const logAlpha = new Float64Array(N);
  let logMean = 0;
  let inverseSum = 0;
  for (let k = 0; k < N; k++) {
    expP[k] = Math.exp(p[k]!);
    alpha[k] = Math.max(expP[k]!, 1e-6);
    logAlpha[k] = Math.log(alpha[k]!);
    logMean += logAlpha[k]! / N;
    inverseSum += 1 / alpha[k]!;
  }
  // μ = ln α − mean ln α;  v = (1/α)(1 − 2/N) + Σ(1/α)/N², floored at 1e-6.
  const unclampedVariance = new Float64Array(N);
  const deviation = new Float64Array(N);
  for (let k = 0; k < N; k++) {
    unclampedVariance[k] = (1 / alpha[k]!) * (1 - 2 / N) + inverseSum / (N * N);
    deviation[k] = Math.sqrt(Math.max(unclampedVariance[k]!, 1e-6) + 1e-6);
  }
  const exactWeights = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    let top = -Infinity;
    for (let k = 0; k < N; k++) {
      const logit = logAlpha[k]! - logMean + deviation[k]! * noise.mixture[m * N + k]!;
      exactWeights[m * N + k] = logit;
      top = Math.max(top, logit);
    }
    let total = 0;
    for (let k = 0; k < N; k++) total += exactWeights[m * N + k] = Math.exp(exactWeights[m * N + k]! - top);
    for (let k = 0; k < N; k++) exactWeights[m * N + k] /= total;
  }
  const weights = Float32Array.from(exactWeights);
  const mixing = shape.sparse ? oneHotAtMaximum(weights, N) : Float64Array.from(weights);
  return {
    unclamped,
    covariance,
    expP,
    alpha,
    unclampedVariance,
    deviation,
    exactWeights,
    weights,
    mixing,
    columnScale,
  };
}

/**
 * P = (1/M) Σ_m X_m·diag(σ_m), X_m = Σ_n m_mn Z_mn, into `out` [d·r] (straight into the backend's memory: no JavaScript
 * array of the layer's size is made); returns Σ P².
 */
export function writePerturbation(
  sample: LayerSample,
  noise: LayerNoise,
  shape: SampleShape,
  out: Float32Array,
): number {
  const { rank: r, components: N, outerSamples: M } = shape;
  const size = out.length;
  const z = noise.gaussian;
  let squares = 0;
  for (let row = 0; row < size; row += r) {
    for (let j = 0; j < r; j++) {
      const i = row + j;
      let total = 0;
      for (let m = 0; m < M; m++) {
        let mixed = 0;
        for (let n = 0; n < N; n++) mixed += sample.mixing[m * N + n]! * z[(m * N + n) * size + i]!;
        total += mixed * sample.columnScale[m * r + j]!;
      }
      out[i] = total / M;
      squares += out[i]! * out[i]!;
    }
  }
  return squares;
}

/** One-hot rows at each row's largest weight (the first on ties, as tf.argMax). */
function oneHotAtMaximum(weights: Float32Array, n: number): Float64Array {
  const out = new Float64Array(weights.length);
  for (let row = 0; row < weights.length / n; row++) {
    let best = 0;
    for (let k = 1; k < n; k++) if (weights[row * n + k]! > weights[row * n + best]!) best = k;
    out[row * n + best] = 1;
  }
  return out;
}

/** Upstream gradients of one layer's outputs; the regulariser's own ∂/∂s and ∂/∂α are added in. */
export interface LayerUpstream {
  /** ∂/∂P [d·r]. */
  readonly perturbation: ArrayLike<number>;
  /** ∂/∂Σ [M·r] and ∂/∂w [M·N]. */
  readonly covariance: ArrayLike<number>;
  readonly weights: ArrayLike<number>;
  /** ∂/∂s [r] and ∂/∂α [N] reaching s and α directly (the Wishart and Dirichlet KL). */
  readonly s: ArrayLike<number>;
  readonly alpha: ArrayLike<number>;
}

/** ∂/∂s [r] and ∂/∂p [N] of one layer (see the header for the derivation). */
export function layerSampleGradients(
  sample: LayerSample,
  noise: LayerNoise,
  upstream: LayerUpstream,
  shape: SampleShape,
): { s: Float32Array; p: Float32Array } {
  const { rank: r, components: N, outerSamples: M } = shape;
  const g = upstream.perturbation;
  const size = g.length;
  const ds = new Float64Array(r);
  for (let j = 0; j < r; j++) ds[j] = upstream.s[j]!;
  const dWeights = new Float64Array(M * N);
  for (let k = 0; k < M * N; k++) dWeights[k] = upstream.weights[k]!;
  // One pass over the Gaussians per outer sample: t_nj = Σ_i G_ij Z_mn,ij, then ∂σ_mj = (1/M) Σ_n m_mn t_nj and
  // ∂m_mn = (1/M) Σ_j σ_mj t_nj.
  const t = new Float64Array(N * r);
  for (let m = 0; m < M; m++) {
    t.fill(0);
    for (let n = 0; n < N; n++) {
      const from = (m * N + n) * size;
      for (let j = 0; j < r; j++) {
        let total = 0;
        for (let i = j; i < size; i += r) total += g[i]! * noise.gaussian[from + i]!;
        t[n * r + j] = total;
      }
    }
    for (let j = 0; j < r; j++) {
      let dScale = 0;
      for (let n = 0; n < N; n++) dScale += sample.mixing[m * N + n]! * t[n * r + j]!;
      const k = m * r + j;
      const dCovariance =
        upstream.covariance[k]! + ((dScale / M) * shape.scale) / (2 * Math.sqrt(sample.covariance[k]!));
      if (sample.unclamped[k]! >= 1e-3) ds[j] += dCovariance * 2 * sample.unclamped[k]!;
    }
    if (shape.sparse) continue;
    for (let n = 0; n < N; n++) {
      let dot = 0;
      for (let j = 0; j < r; j++) dot += sample.columnScale[m * r + j]! * t[n * r + j]!;
      dWeights[m * N + n] += dot / M;
    }
  }
  // Softmax, then the logits μ_k + √(v_k + 1e-6)·z_mk.
  const dMu = new Float64Array(N);
  const dDeviation = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    let inner = 0;
    for (let k = 0; k < N; k++) inner += sample.exactWeights[m * N + k]! * dWeights[m * N + k]!;
    for (let k = 0; k < N; k++) {
      const dLogit = sample.exactWeights[m * N + k]! * (dWeights[m * N + k]! - inner);
      dMu[k] += dLogit;
      dDeviation[k] += dLogit * noise.mixture[m * N + k]!;
    }
  }
  // v_k = (1/α_k)(1 − 2/N) + Σ_j(1/α_j)/N² (floored);  μ_k = ln α_k − mean ln α.
  const dVariance = new Float64Array(N);
  let dVarianceSum = 0;
  let dMuSum = 0;
  for (let k = 0; k < N; k++) {
    dVariance[k] = sample.unclampedVariance[k]! >= 1e-6 ? dDeviation[k]! / (2 * sample.deviation[k]!) : 0;
    dVarianceSum += dVariance[k]!;
    dMuSum += dMu[k]!;
  }
  const dp = new Float32Array(N);
  for (let k = 0; k < N; k++) {
    const a = sample.alpha[k]!;
    const dInverse = dVariance[k]! * (1 - 2 / N) + dVarianceSum / (N * N);
    const dAlpha = upstream.alpha[k]! + (dMu[k]! - dMuSum / N) / a - dInverse / (a * a);
    dp[k] = sample.expP[k]! >= 1e-6 ? dAlpha * sample.expP[k]! : 0;
  }
  return { s: Float32Array.from(ds), p: dp };
}

/** The sampling members' priors as the op reads them, a row per member. */
export interface HostSamplerPriors {
  /** [L, r]. */
  readonly s: Tensor;
  /** [L, N]. */
  readonly p: Tensor;
  /** α⁰ [L, N], for the random-prior ablation. */
  readonly dirichletPrior?: Tensor;
}

/** What one host draw returns: tensors on the current backend, taped as one op. */
export interface HostDraw {
  /** Each member's A + P [d_in, r] (P rounded to float32 first, as adding the two tensors would), differentiable in A. */
  readonly perturbedA: Tensor[];
  /** Member l's P [d_in, r] as a new tensor, off the tape (for logs and tests). */
  perturbation(l: number): Tensor;
  /** [L, M, r] and [L, M, N]. */
  readonly covariance: Tensor;
  readonly weights: Tensor;
  /** [KL_G/M, KL_W, KL_D, C/M] summed over the members, for `config`. */
  readonly terms: Tensor;
  /** Σ P² and Σ A² over every member, for the noise-to-A diagnostic. */
  readonly perturbationSquaredNorm: number;
  readonly aSquaredNorm: number;
}

/** A float32 copy of a tensor's values (a view of the wasm heap is only valid until the next allocation). */
const hostCopy = (t: Tensor) => Float32Array.from(inputValues<Float32Array>(tf.backend(), t));

/**
 * One draw for every member: `priors` their rows of s and p, `means` their A [d_in, r] (the op returns A + P, so that a
 * layer's product takes one operand and no add).
 */
export function hostGroupDraw(
  priors: HostSamplerPriors,
  means: readonly Tensor[],
  noise: readonly LayerNoise[],
  config: MonteCloraConfig,
): HostDraw {
  const shape = sampleShape(config);
  const { rank: r, components: N, outerSamples: M } = shape;
  const L = means.length;
  const termsShape = regularizerShape(config);
  const prior = config.randomDirichletPrior ? hostCopy(priors.dirichletPrior!) : config.dirichletPrior;
  let samples: LayerSample[] = [];
  let regularizerInput: RegularizerValues | undefined;
  let squaredNorm = 0;
  let aSquaredNorm = 0;
  const outputs = runMultiOutputOp([priors.s, priors.p, ...means], {
    forward(values) {
      const [s, p] = values.slice(0, 2).map(hostCopy) as [Float32Array, Float32Array];
      const a = values.slice(2).map(hostCopy);
      samples = noise.map((draw, l) =>
        sampleLayer(s.subarray(l * r, (l + 1) * r), p.subarray(l * N, (l + 1) * N), draw, shape),
      );
      const covariance = concatenated(samples.map((sample) => sample.covariance));
      const weights = concatenated(samples.map((sample) => sample.weights));
      regularizerInput = {
        covariance,
        weights,
        s,
        alpha: concatenated(samples.map((sample) => Float32Array.from(sample.alpha))),
        prior,
      };
      squaredNorm = 0;
      aSquaredNorm = 0;
      const perturbedA = samples.map((sample, l) =>
        filledTensor(values[2 + l]!.shape, (out) => {
          squaredNorm += writePerturbation(sample, noise[l]!, shape, out);
          const mean = a[l]!;
          for (let i = 0; i < out.length; i++) {
            out[i] += mean[i]!;
            aSquaredNorm += mean[i]! * mean[i]!;
          }
        }),
      );
      return [
        ...perturbedA,
        tf.tensor3d(covariance, [L, M, r]),
        tf.tensor3d(weights, [L, M, N]),
        tf.tensor1d(regularizerTermValues(regularizerInput, termsShape)),
      ];
    },
    backward(dys) {
      const read = (t: Tensor) => inputValues<Float32Array>(tf.backend(), t);
      const terms = read(dys[L + 2]!);
      const fromTerms = regularizerTermGradients(regularizerInput!, termsShape, Array.from(terms));
      const dCovariance = read(dys[L]!);
      const dWeights = read(dys[L + 1]!);
      // Σ̄ and w̄ reach the sample both as outputs of their own and through the terms.
      const both = (own: Float32Array, viaTerms: Float32Array, from: number, length: number) => {
        const out = new Float64Array(length);
        for (let k = 0; k < length; k++) out[k] = own[from + k]! + viaTerms[from + k]!;
        return out;
      };
      // Every gradient is computed before any tensor is made: making one can move the heap under the views read above.
      const grads = samples.map((sample, l) =>
        layerSampleGradients(
          sample,
          noise[l]!,
          {
            perturbation: read(dys[l]!),
            covariance: both(dCovariance, fromTerms.covariance, l * M * r, M * r),
            weights: both(dWeights, fromTerms.weights, l * M * N, M * N),
            s: fromTerms.s.subarray(l * r, (l + 1) * r),
            alpha: fromTerms.alpha.subarray(l * N, (l + 1) * N),
          },
          shape,
        ),
      );
      // A's gradient is A + P's, passed on (engine/ops/multi-output.ts says why no clone).
      return [
        tf.tensor2d(concatenated(grads.map((g) => g.s)), [L, r]),
        tf.tensor2d(concatenated(grads.map((g) => g.p)), [L, N]),
        ...dys.slice(0, L),
      ];
    },
  });
  return {
    perturbedA: outputs.slice(0, L),
    perturbation: (l) => filledTensor(means[l]!.shape, (out) => writePerturbation(samples[l]!, noise[l]!, shape, out)),
    covariance: outputs[L]!,
    weights: outputs[L + 1]!,
    terms: outputs[L + 2]!,
    perturbationSquaredNorm: squaredNorm,
    aSquaredNorm,
  };
}

function concatenated(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((total, part) => total + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
