/**
 * The small maths of MonteCLoRA's device draw as kernels (peft/monteclora/draw-scales.ts holds the definition in tfjs
 * ops), for every layer of a model at once:
 *  - `McevalSampleCovariance`: s [L, r] and the χ² draws c [L, M, r] → Σ = max(e^{2s}·c, 1e-3) [L, M, r], or with
 *    `columnScale` the columns' scale ε√Σ; `McevalSampleCovarianceGrad` (+ both outputs' upstream) → ∂s [L, r];
 *  - `McevalMixtureWeights`: p [L, N] and the normals z [L, M, N] → w = softmax(μ + √(v + 1e-6)·z) [L, M, N], with μ
 *    and v the logistic-normal approximation of Dirichlet(α), α = max(e^p, 1e-6) (mixture-weights.ts);
 *    `McevalMixtureWeightsGrad` (+ w and its upstream) → ∂p [L, N].
 * In tfjs ops these are ~25 dispatches forward and ~40 backward on tensors of a few hundred values; each kernel here is
 * one elementwise dispatch. Gradients follow the ops' own chain rule (the clamps pass where the ops' maximum does).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ELEMENT_INDEX, elementwiseDispatch, runShader, shaped, sizeOf, type WebGpuBackendLike } from './shader.js';

export const SAMPLE_COVARIANCE = 'McevalSampleCovariance';
export const SAMPLE_COVARIANCE_GRAD = 'McevalSampleCovarianceGrad';
export const MIXTURE_WEIGHTS = 'McevalMixtureWeights';
export const MIXTURE_WEIGHTS_GRAD = 'McevalMixtureWeightsGrad';

export interface SampleCovarianceAttrs {
  /** ε (or ε² with the reference code's double scaling). */
  readonly scale: number;
  /** The forward kernel's output: Σ, or the columns' scale ε√Σ. */
  readonly columnScale: boolean;
}

const WORKGROUP = 64;

// rows: L; samples: M; width: r or N; count: the output's size; keep: 1 − 2/N as the host rounds it.
const UNIFORMS = 'rows : i32, samples : i32, width : i32, count : i32, scale : f32, keep : f32,';

const covarianceCode = (columnScale: boolean) => `
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let r = uniforms.width;
    let l = i / (uniforms.samples * r);
    let c = max(exp(2.0 * s[l * r + i % r]) * chiSquare[i], 1e-3);
    result[i] = ${columnScale ? 'sqrt(c) * uniforms.scale' : 'c'};
  }
}
`;

// ∂s[l, j] = Σ_m 2e^{2s}·c·(∂Σ + ∂scale·ε/(2√Σ)) where e^{2s}·c ≥ 1e-3 (the clamp's gradient is zero below it).
const COVARIANCE_GRAD = `
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let r = uniforms.width;
    let l = i / r;
    let e = exp(2.0 * s[i]);
    var total = 0.0;
    for (var m = 0; m < uniforms.samples; m++) {
      let k = (l * uniforms.samples + m) * r + i % r;
      let raw = e * chiSquare[k];
      let c = max(raw, 1e-3);
      let upstream = dCovariance[k] + dColumnScale[k] * uniforms.scale * 0.5 / sqrt(c);
      total += select(0.0, upstream * chiSquare[k], raw >= 1e-3);
    }
    result[i] = total * e * 2.0;
  }
}
`;

/**
 * Layer l's logistic-normal parameters: α = max(e^p, 1e-6), μ_q = ln α_q − mean(ln α), v_q = max(α_q⁻¹·(1 − 2/N) +
 * Σα⁻¹/N², 1e-6) — here the mean of ln α and Σα⁻¹, from which logit() makes μ_q + √(v_q + 1e-6)·z_q.
 */
const LOGISTIC_NORMAL = `
fn concentration(x : f32) -> f32 {
  return max(exp(x), 1e-6);
}

struct Layer {
  meanLog : f32,
  inverseSum : f32,
}

fn layerOf(l : i32) -> Layer {
  let n = uniforms.width;
  var out = Layer(0.0, 0.0);
  for (var q = 0; q < n; q++) {
    let a = concentration(p[l * n + q]);
    out.meanLog += log(a);
    out.inverseSum += 1.0 / a;
  }
  out.meanLog /= f32(n);
  return out;
}

fn rawVariance(layer : Layer, a : f32) -> f32 {
  let n = f32(uniforms.width);
  return (1.0 / a) * uniforms.keep + layer.inverseSum / (n * n);
}

fn logit(layer : Layer, l : i32, row : i32, q : i32) -> f32 {
  let n = uniforms.width;
  let a = concentration(p[l * n + q]);
  let deviation = sqrt(max(rawVariance(layer, a), 1e-6) + 1e-6);
  return log(a) - layer.meanLog + deviation * noise[row * n + q];
}
`;

const MIXTURE_FORWARD = `${LOGISTIC_NORMAL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let n = uniforms.width;
    let row = i / n;
    let l = row / uniforms.samples;
    let layer = layerOf(l);
    var largest = logit(layer, l, row, 0);
    for (var q = 1; q < n; q++) {
      largest = max(largest, logit(layer, l, row, q));
    }
    var total = 0.0;
    for (var q = 0; q < n; q++) {
      total += exp(logit(layer, l, row, q) - largest);
    }
    result[i] = exp(logit(layer, l, row, i % n) - largest) / total;
  }
}
`;

/**
 * ∂p[l, k] = Σ_m α_k·∂α_k: back through the softmax (∂y = w ⊙ (∂w − Σ w∂w), which sums to zero over a row, so μ's
 * mean subtraction passes it unchanged), √(v + 1e-6) (∂v = ∂y·z/(2√(v + 1e-6)), zero where v was clamped), v's α⁻¹
 * terms, ln α and max(e^p, 1e-6) (zero below the clamp).
 */
const MIXTURE_GRAD = `${LOGISTIC_NORMAL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let n = uniforms.width;
    let l = i / n;
    let k = i % n;
    let layer = layerOf(l);
    let e = exp(p[i]);
    let a = max(e, 1e-6);
    var total = 0.0;
    for (var m = 0; m < uniforms.samples; m++) {
      let row = l * uniforms.samples + m;
      var dot = 0.0;
      for (var q = 0; q < n; q++) {
        dot += weights[row * n + q] * upstream[row * n + q];
      }
      var varianceSum = 0.0;
      var ownLogit = 0.0;
      var ownVariance = 0.0;
      for (var q = 0; q < n; q++) {
        let dLogit = weights[row * n + q] * (upstream[row * n + q] - dot);
        let aq = concentration(p[l * n + q]);
        let raw = rawVariance(layer, aq);
        let deviation = sqrt(max(raw, 1e-6) + 1e-6);
        let dVariance = select(0.0, dLogit * noise[row * n + q] * 0.5 / deviation, raw >= 1e-6);
        varianceSum += dVariance;
        if (q == k) {
          ownLogit = dLogit;
          ownVariance = dVariance;
        }
      }
      let dInverse = ownVariance * uniforms.keep + varianceSum / f32(n * n);
      total += ownLogit / a - dInverse / (a * a);
    }
    result[i] = select(0.0, total * e, e >= 1e-6);
  }
}
`;

/** L, M and the last axis of a [L, M, width] tensor. */
const dimensions = (t: TensorInfo) => ({ rows: t.shape[0]!, samples: t.shape[1]!, width: t.shape[2]! });

/**
 * One of the kernels: one elementwise dispatch of `code` binding `names` in this order, over an output shaped like
 * input `like`, with L, M and the width of input `sampled`.
 */
function kernel(spec: {
  readonly names: readonly string[];
  readonly like: string;
  readonly sampled: string;
  readonly key: (attrs: Partial<SampleCovarianceAttrs>) => string;
  readonly code: (attrs: Partial<SampleCovarianceAttrs>) => string;
}): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const named = inputs as Record<string, TensorInfo>;
    const given = attrs as unknown as Partial<SampleCovarianceAttrs>;
    const like = named[spec.like]!;
    const count = sizeOf(like);
    const { rows, samples, width } = dimensions(named[spec.sampled]!);
    const output = runShader(
      backend as unknown as WebGpuBackendLike,
      {
        key: spec.key(given),
        inputs: spec.names.map((name) => ({ name, components: 1 })),
        uniforms: UNIFORMS,
        workgroupSize: WORKGROUP,
        dispatch: elementwiseDispatch(count, WORKGROUP),
        outputSize: count,
        code: spec.code(given),
      },
      spec.names.map((name) => named[name]!),
      [
        ...[rows, samples, width, count].map((value) => ({ type: 'int32' as const, data: [value] })),
        { type: 'float32', data: [given.scale ?? 0] },
        { type: 'float32', data: [1 - 2 / width] },
      ],
    );
    return shaped(output, [...like.shape]);
  };
}

const covariance = kernel({
  names: ['s', 'chiSquare'],
  like: 'chiSquare',
  sampled: 'chiSquare',
  key: ({ columnScale }) => `McevalSampleCovariance_${Number(columnScale)}`,
  code: ({ columnScale }) => covarianceCode(columnScale === true),
});

const covarianceGrad = kernel({
  names: ['s', 'chiSquare', 'dCovariance', 'dColumnScale'],
  like: 's',
  sampled: 'chiSquare',
  key: () => 'McevalSampleCovarianceGrad',
  code: () => COVARIANCE_GRAD,
});

const mixture = kernel({
  names: ['p', 'noise'],
  like: 'noise',
  sampled: 'noise',
  key: () => 'McevalMixtureWeights',
  code: () => MIXTURE_FORWARD,
});

const mixtureGrad = kernel({
  names: ['p', 'noise', 'weights', 'upstream'],
  like: 'p',
  sampled: 'noise',
  key: () => 'McevalMixtureWeightsGrad',
  code: () => MIXTURE_GRAD,
});

export function webGpuDrawScaleKernels(): KernelConfig[] {
  return [
    { kernelName: SAMPLE_COVARIANCE, backendName: 'webgpu', kernelFunc: covariance },
    { kernelName: SAMPLE_COVARIANCE_GRAD, backendName: 'webgpu', kernelFunc: covarianceGrad },
    { kernelName: MIXTURE_WEIGHTS, backendName: 'webgpu', kernelFunc: mixture },
    { kernelName: MIXTURE_WEIGHTS_GRAD, backendName: 'webgpu', kernelFunc: mixtureGrad },
  ];
}
