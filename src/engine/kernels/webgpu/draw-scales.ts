/**
 * The small maths of MonteCLoRA's device draw as kernels (peft/monteclora/draw-scales.ts holds the definition in tfjs
 * ops), for every layer of a model at once:
 *  - `McevalSampleCovariance`: s [L, r] and the χ² draws c [L, M, r] → Σ = max(e^{2s}·c, 1e-3) [L, M, r] and the
 *    columns' scale ε√Σ; `McevalSampleCovarianceGrad` (+ both outputs' upstream) → ∂s [L, r];
 *  - `McevalMixtureWeights`: p [L, N] and the normals z [L, M, N] → w = softmax(μ + √(v + 1e-6)·z) [L, M, N], with μ
 *    and v the logistic-normal approximation of Dirichlet(α), α = max(e^p, 1e-6) (mixture-weights.ts);
 *    `McevalMixtureWeightsGrad` (+ w and its upstream) → ∂p [L, N].
 * In tfjs ops these are ~25 dispatches forward and ~40 backward on tensors of a few hundred values; each kernel here is
 * one elementwise dispatch. Gradients follow the ops' own chain rule (the clamps pass where the ops' maximum does).
 * The WGSL is monteclora-wgsl.ts's, which fused-draw.ts shares.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  runShader,
  scalarInputs,
  shaped,
  sizeOf,
  type WebGpuBackendLike,
} from './shader.js';
import {
  COVARIANCE_WGSL,
  DRAW_UNIFORMS,
  MIXTURE_WEIGHT_WGSL,
  P_DRAW_GRADIENT_WGSL,
  S_DRAW_GRADIENT_WGSL,
  columnScaleUpstream,
  drawUniformValues,
} from './monteclora-wgsl.js';

export const SAMPLE_COVARIANCE = 'McevalSampleCovariance';
export const SAMPLE_COVARIANCE_GRAD = 'McevalSampleCovarianceGrad';
export const MIXTURE_WEIGHTS = 'McevalMixtureWeights';
export const MIXTURE_WEIGHTS_GRAD = 'McevalMixtureWeightsGrad';

export interface SampleCovarianceAttrs {
  /** ε (or ε² with the reference code's double scaling). */
  readonly scale: number;
}

const WORKGROUP = 64;

// Σ into the output and ε√Σ into `columnScale`, element by element.
const COVARIANCE_FORWARD = `${COVARIANCE_WGSL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let c = covarianceAt(i);
    result[i] = c;
    columnScale[i] = sqrt(c) * uniforms.scale;
  }
}
`;

const COVARIANCE_GRAD = `
fn covarianceUpstream(k : i32, c : f32) -> f32 {
  return dCovariance[k] + ${columnScaleUpstream('k', 'c')};
}
${S_DRAW_GRADIENT_WGSL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    result[i] = sDrawGradientAt(i);
  }
}
`;

const MIXTURE_FORWARD = `${MIXTURE_WEIGHT_WGSL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    result[i] = mixtureWeightAt(i);
  }
}
`;

const MIXTURE_GRAD = `
fn weightUpstream(at : i32) -> f32 {
  return upstream[at];
}
${P_DRAW_GRADIENT_WGSL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    result[i] = pDrawGradientAt(i);
  }
}
`;

/**
 * One of the kernels: one elementwise dispatch of `code` binding `names` in this order, then `written` (outputs beside
 * the first, shaped like it), over an output shaped like input `like`, with L and M of input `sampled` and its last
 * axis as `width` (r or N).
 */
function kernel(spec: {
  readonly names: readonly string[];
  readonly written?: readonly string[];
  readonly like: string;
  readonly sampled: string;
  readonly width: 'rank' | 'components';
  readonly key: string;
  readonly code: string;
}): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const gpu = backend as unknown as WebGpuBackendLike;
    const named = inputs as Record<string, TensorInfo>;
    const like = named[spec.like]!;
    const count = sizeOf(like);
    const sampled = named[spec.sampled]!;
    const written = (spec.written ?? []).map(() => gpu.makeTensorInfo([count], 'float32'));
    const output = runShader(
      gpu,
      {
        key: spec.key,
        inputs: [...scalarInputs(spec.names), ...scalarInputs(spec.written ?? [], true)],
        uniforms: DRAW_UNIFORMS,
        workgroupSize: WORKGROUP,
        dispatch: elementwiseDispatch(count, WORKGROUP),
        outputSize: count,
        code: () => spec.code,
      },
      [...spec.names.map((name) => named[name]!), ...written],
      drawUniformValues({
        rows: sampled.shape[0]!,
        samples: sampled.shape[1]!,
        [spec.width]: sampled.shape[2]!,
        count,
        scale: (attrs as unknown as Partial<SampleCovarianceAttrs>).scale ?? 0,
      }),
    );
    const outputs = [output, ...written].map((info) => shaped(info, [...like.shape]));
    return written.length === 0 ? outputs[0]! : outputs;
  };
}

const covariance = kernel({
  names: ['s', 'chiSquare'],
  written: ['columnScale'],
  like: 'chiSquare',
  sampled: 'chiSquare',
  width: 'rank',
  key: 'McevalSampleCovariance',
  code: COVARIANCE_FORWARD,
});

const covarianceGrad = kernel({
  names: ['s', 'chiSquare', 'dCovariance', 'dColumnScale'],
  like: 's',
  sampled: 'chiSquare',
  width: 'rank',
  key: 'McevalSampleCovarianceGrad',
  code: COVARIANCE_GRAD,
});

const mixture = kernel({
  names: ['p', 'noise'],
  like: 'noise',
  sampled: 'noise',
  width: 'components',
  key: 'McevalMixtureWeights',
  code: MIXTURE_FORWARD,
});

const mixtureGrad = kernel({
  names: ['p', 'noise', 'weights', 'upstream'],
  like: 'p',
  sampled: 'noise',
  width: 'components',
  key: 'McevalMixtureWeightsGrad',
  code: MIXTURE_GRAD,
});

export function webGpuDrawScaleKernels(): KernelConfig[] {
  return [
    { kernelName: SAMPLE_COVARIANCE, backendName: 'webgpu', kernelFunc: covariance },
    { kernelName: SAMPLE_COVARIANCE_GRAD, backendName: 'webgpu', kernelFunc: covarianceGrad },
    { kernelName: MIXTURE_WEIGHTS, backendName: 'webgpu', kernelFunc: mixture },
    { kernelName: MIXTURE_WEIGHTS_GRAD, backendName: 'webgpu', kernelFunc: mixtureGrad },
  ];
}
