/**
 * MonteCLoRA's device draw and its regulariser as one dispatch each way, on webgpu (peft/monteclora/fused-draw.ts):
 *  - `McevalFusedDraw`: s [L, r], the χ² draws c [L, M, r], p [L, N], the normals z [L, M, N] and, for the random-prior
 *    ablation, α⁰ [L, N] → Σ [L, M, r], ε√Σ, the logistic-normal mixture weights w [L, M, N] (draw-scales.ts's values),
 *    and the regulariser's terms [KL_G/M, KL_W, KL_D, C/M] and weighted mean (regularizer-terms.ts's) — one workgroup,
 *    which writes each value of the draw as it adds its share of the terms, then sums them by a tree;
 *  - `McevalFusedDrawGrad`: + the upstream gradients of the five outputs → ∂s [L, r] and ∂p [L, N], elementwise: each
 *    the draw's chain rule (draw-scales.ts's) with the regulariser's gradient in Σ and w added to their upstream, plus
 *    the regulariser's own gradient in s or p.
 * Apart, these took the draw's scales (two dispatches forward and two backward), the regulariser (one and one) and
 * tfjs's additions of the gradients two of them give one tensor (w's, s's and p's: three). Each value is the same sum
 * as apart, in the same order. Binds 10 buffers forward and 13 backward with a prior tensor: where the
 * device binds fewer, the draw runs apart (fusedDrawFits).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  runShader,
  scalarInputs,
  shaped,
  sizeOf,
  storageBuffersPerShader,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';
import {
  COVARIANCE_WGSL,
  DRAW_UNIFORMS,
  MIXTURE_WEIGHT_WGSL,
  P_DRAW_GRADIENT_WGSL,
  REGULARIZER_GRADIENTS,
  S_DRAW_GRADIENT_WGSL,
  columnScaleUpstream,
  drawUniformValues,
  regularizerSumsMain,
  regularizerTermsCode,
  regularizerUpstreamCode,
  type RegularizerAttrs,
} from './monteclora-wgsl.js';

export const FUSED_DRAW = 'McevalFusedDraw';
export const FUSED_DRAW_GRAD = 'McevalFusedDrawGrad';

/** ε and the regulariser's attributes. */
export interface FusedDrawAttrs extends RegularizerAttrs {
  readonly scale: number;
}

/** The most buffers a dispatch of the pair binds: the gradient's, with a prior tensor. */
const MOST_BINDINGS = 13;

/** Whether the device binds every buffer of both kernels. */
export const fusedDrawFits = (backend: WebGpuBackendLike): boolean => storageBuffersPerShader(backend) >= MOST_BINDINGS;

const WORKGROUP = 256;

// Each value of the draw written as its share of the terms is added.
const forwardCode = (hasPrior: boolean) =>
  `${COVARIANCE_WGSL}${MIXTURE_WEIGHT_WGSL}${regularizerTermsCode(hasPrior)}${workgroupSumCode('vec4<f32>', WORKGROUP)}${regularizerSumsMain(
    WORKGROUP,
    {
      covariance: `let c = covarianceAt(i);
    result[i] = c;
    columnScale[i] = sqrt(c) * uniforms.scale;`,
      weight: `let w = mixtureWeightAt(i);
    weights[i] = w;`,
      terms: 'terms',
    },
  )}`;

// Σ's upstream: its own, the regulariser's and the columns' scale's through it, added in the order apart gave.
const gradientCode = (hasPrior: boolean) => `${regularizerUpstreamCode('dTerms', 'dTotal')}
${REGULARIZER_GRADIENTS.covariance}${REGULARIZER_GRADIENTS.s}${REGULARIZER_GRADIENTS.weights}${REGULARIZER_GRADIENTS.p(hasPrior)}
fn covarianceUpstream(k : i32, c : f32) -> f32 {
  return (dCovariance[k] + covarianceTermGradient(c)) + ${columnScaleUpstream('k', 'c')};
}

fn weightUpstream(at : i32) -> f32 {
  return dWeights[at] + weightTermGradient(weights[at]);
}
${S_DRAW_GRADIENT_WGSL}${P_DRAW_GRADIENT_WGSL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.sCount) {
    result[i] = sDrawGradientAt(i) + sTermGradient(i);
  } else if (i < uniforms.count) {
    let j = i - uniforms.sCount;
    dp[j] = pDrawGradientAt(j) + pTermGradient(j);
  }
}
`;

/** DRAW_UNIFORMS' values for the draw of `chiSquare` [L, M, r] and `noise` [L, M, N]. */
function uniformsOf(named: Record<string, TensorInfo>, attrs: FusedDrawAttrs, count: number) {
  const [chiSquare, noise] = [named['chiSquare']!, named['noise']!];
  return drawUniformValues({
    rows: chiSquare.shape[0]!,
    samples: chiSquare.shape[1]!,
    rank: chiSquare.shape[2]!,
    components: noise.shape[2]!,
    count,
    scale: attrs.scale,
    referenceSign: attrs.referenceSign,
    symmetricPrior: attrs.symmetricPrior,
    termWeights: attrs.termWeights,
  });
}

/** Outputs Σ, ε√Σ, w, the terms [4] and the regulariser [1]. */
const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const named = inputs as Record<string, TensorInfo>;
  const hasPrior = named['prior'] !== undefined;
  const names = ['s', 'chiSquare', 'p', 'noise', ...(hasPrior ? ['prior'] : [])];
  const [chiSquare, noise] = [named['chiSquare']!, named['noise']!];
  const written = {
    columnScale: gpu.makeTensorInfo([...chiSquare.shape], 'float32'),
    weights: gpu.makeTensorInfo([...noise.shape], 'float32'),
    terms: gpu.makeTensorInfo([4], 'float32'),
    total: gpu.makeTensorInfo([1], 'float32'),
  };
  const covariance = runShader(
    gpu,
    {
      key: `${FUSED_DRAW}_${Number(hasPrior)}`,
      inputs: [...scalarInputs(names), ...scalarInputs(Object.keys(written), true)],
      uniforms: DRAW_UNIFORMS,
      workgroupSize: WORKGROUP,
      dispatch: [1, 1],
      outputSize: sizeOf(chiSquare),
      code: () => forwardCode(hasPrior),
    },
    [...names.map((name) => named[name]!), ...Object.values(written)],
    uniformsOf(named, attrs as unknown as FusedDrawAttrs, 0),
  );
  return [shaped(covariance, [...chiSquare.shape]), ...Object.values(written)];
};

/**
 * Inputs: the forward's, its weights, and the upstream gradients dCovariance, dColumnScale, dWeights, dTerms, dTotal.
 * Outputs ∂s and ∂p.
 */
const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const named = inputs as Record<string, TensorInfo>;
  const hasPrior = named['prior'] !== undefined;
  const names = [
    's',
    'chiSquare',
    'p',
    'noise',
    'weights',
    ...(hasPrior ? ['prior'] : []),
    'dCovariance',
    'dColumnScale',
    'dWeights',
    'dTerms',
    'dTotal',
  ];
  const [s, p] = [named['s']!, named['p']!];
  const count = sizeOf(s) + sizeOf(p);
  const dp = gpu.makeTensorInfo([...p.shape], 'float32');
  const ds = runShader(
    gpu,
    {
      key: `${FUSED_DRAW_GRAD}_${Number(hasPrior)}`,
      inputs: [...scalarInputs(names), ...scalarInputs(['dp'], true)],
      uniforms: DRAW_UNIFORMS,
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(count, WORKGROUP),
      outputSize: sizeOf(s),
      code: () => gradientCode(hasPrior),
    },
    [...names.map((name) => named[name]!), dp],
    uniformsOf(named, attrs as unknown as FusedDrawAttrs, count),
  );
  return [shaped(ds, [...s.shape]), dp];
};

export function webGpuFusedDrawKernels(): KernelConfig[] {
  return [
    { kernelName: FUSED_DRAW, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: FUSED_DRAW_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
