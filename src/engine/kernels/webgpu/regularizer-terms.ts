/**
 * MonteCLoRA's regulariser on webgpu as kernels: `McevalRegularizerTerms` (covariance [L·M, r], weights [L·M, N],
 * s [L, r], p [L, N] and, for the random-prior ablation, the prior α⁰ [L, N] → the terms [KL_G/M, KL_W, KL_D, C/M]
 * summed over layers, and their weighted mean over the L layers (the regulariser itself, [1])) and
 * `McevalRegularizerTermsGrad` (+ the upstream gradients of both outputs → the four inputs' gradients). The maths of
 * peft/monteclora/host-regularizer.ts, which derives the gradients, in float32 with the series of
 * special-functions.ts for lnΓ, ψ and ψ′; in tfjs ops (kl.ts) the same terms and gradient are ~500 dispatches a step.
 * The concentration α = max(e^p, 1e-6) and the weighted mean are formed here too: as tfjs ops around the kernel they
 * were five dispatches forward and as many backward.
 * The forward pass is one workgroup summing strided slices, then a tree; each gradient is one elementwise shader.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  runShader,
  shaped,
  sizeOf,
  workgroupSumCode,
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';

export const REGULARIZER_TERMS = 'McevalRegularizerTerms';
export const REGULARIZER_TERMS_GRAD = 'McevalRegularizerTermsGrad';

/**
 * Attributes: N, M, the published code's Dirichlet sign, the symmetric prior (when no prior tensor is given) and each
 * term's weight in the regulariser, (Σ_k weight_k · term_k) / L.
 */
export interface RegularizerTermsAttrs {
  readonly components: number;
  readonly outerSamples: number;
  readonly referenceSign: boolean;
  readonly symmetricPrior: number;
  readonly termWeights: readonly [number, number, number, number];
}

const WORKGROUP = 256;

const UNIFORMS =
  'covarianceCount : i32, weightCount : i32, sCount : i32, rows : i32, components : i32, rank : i32, ' +
  'outerSamples : f32, symmetricPrior : f32, referenceSign : i32, termWeights : vec4<f32>,';

/** lnΓ, ψ and ψ′ for x > 0: the asymptotic series at x + 6 and the recurrence down to x (special-functions.ts). */
const SPECIAL_FUNCTIONS = `
fn logGamma(x : f32) -> f32 {
  var shift = 0.0;
  for (var k = 0; k < 6; k++) {
    shift += log(x + f32(k));
  }
  let y = x + 6.0;
  let inv = 1.0 / y;
  let inv2 = inv * inv;
  let tail = inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0)));
  return (y - 0.5) * log(y) - y + 0.91893853320467274 + inv * (1.0 / 12.0 - tail) - shift;
}

fn digamma(x : f32) -> f32 {
  var shift = 0.0;
  for (var k = 0; k < 6; k++) {
    shift += 1.0 / (x + f32(k));
  }
  let y = x + 6.0;
  let z = 1.0 / (y * y);
  let series = z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z * (1.0 / 132.0)))));
  return log(y) - 0.5 / y - series - shift;
}

fn trigamma(x : f32) -> f32 {
  var shift = 0.0;
  for (var k = 0; k < 6; k++) {
    let shifted = x + f32(k);
    shift += 1.0 / (shifted * shifted);
  }
  let inv = 1.0 / (x + 6.0);
  let inv2 = inv * inv;
  let tail = inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 * (1.0 / 30.0)));
  return inv + inv2 / 2.0 + inv * inv2 * (1.0 / 6.0 - tail) + shift;
}
`;

/** α⁰ and α = max(e^p, 1e-6) (mixture-weights.ts's concentration) at element i. */
function priorCode(hasPrior: boolean): string {
  return `
fn priorAt(i : i32) -> f32 {
  return ${hasPrior ? 'prior[i]' : 'uniforms.symmetricPrior'};
}

fn alphaAt(i : i32) -> f32 {
  return max(exp(p[i]), 1e-6);
}
`;
}

function forwardCode(hasPrior: boolean): string {
  return `${SPECIAL_FUNCTIONS}${priorCode(hasPrior)}${workgroupSumCode('vec4<f32>', WORKGROUP)}
fn main() {
  let t = i32(localIndex);
  var acc = vec4<f32>(0.0);
  for (var i = t; i < uniforms.covarianceCount; i += ${WORKGROUP}) {
    let c = covariance[i];
    acc.x += c - log(max(c, 1e-6)) - 1.0;
  }
  for (var i = t; i < uniforms.sCount; i += ${WORKGROUP}) {
    let v = s[i];
    acc.y += exp(2.0 * v) - 2.0 * v - 1.0;
  }
  let n = uniforms.components;
  for (var row = t; row < uniforms.rows; row += ${WORKGROUP}) {
    var total = 0.0;
    var priorTotal = 0.0;
    for (var k = 0; k < n; k++) {
      total += alphaAt(row * n + k);
      priorTotal += priorAt(row * n + k);
    }
    var perComponent = 0.0;
    var expectation = 0.0;
    let psiTotal = digamma(total);
    for (var k = 0; k < n; k++) {
      let a = alphaAt(row * n + k);
      let a0 = priorAt(row * n + k);
      perComponent += logGamma(a) - logGamma(a0);
      expectation += (a - a0) * (digamma(a) - psiTotal);
    }
    let normaliser = logGamma(total) - logGamma(priorTotal);
    let signed = select(normaliser - perComponent, normaliser + perComponent, uniforms.referenceSign == 1);
    acc.z += signed + expectation;
  }
  for (var i = t; i < uniforms.weightCount; i += ${WORKGROUP}) {
    let w = weights[i];
    acc.w += w * w;
  }
  let sums = workgroupSum(acc);
  if (t == 0) {
    let terms = vec4<f32>(
      sums.x * (f32(n) / 2.0) / uniforms.outerSamples,
      sums.y * f32(uniforms.rank) / 2.0,
      sums.z,
      sums.w / uniforms.outerSamples,
    );
    result[0] = terms.x;
    result[1] = terms.y;
    result[2] = terms.z;
    result[3] = terms.w;
    total[0] = dot(terms, uniforms.termWeights) / f32(uniforms.rows);
  }
}
`;
}

/**
 * Each input's gradient, element i of `count`, from up(k): term k's upstream gradient plus its share of the weighted
 * mean's, [∂KL_G/M, ∂KL_W, ∂KL_D, ∂C/M].
 */
const UPSTREAM = `
fn up(k : i32) -> f32 {
  return upstream[k] + upstreamTotal[0] * uniforms.termWeights[k] / f32(uniforms.rows);
}
`;

const GRADIENTS = {
  covariance: `let c = covariance[i];
    let inverse = select(0.0, 1.0 / c, c >= 1e-6);
    result[i] = up(0) * (f32(uniforms.components) / 2.0) * (1.0 - inverse) / uniforms.outerSamples;`,
  s: `result[i] = up(1) * f32(uniforms.rank) * (exp(2.0 * s[i]) - 1.0);`,
  weights: `result[i] = up(3) * 2.0 * weights[i] / uniforms.outerSamples;`,
  // Through α = max(e^p, 1e-6): ∂α/∂p = e^p where e^p ≥ 1e-6 (tfjs's maximum passes the gradient on a tie), else 0.
  p: `let n = uniforms.components;
    let row = i / n;
    var total = 0.0;
    var excess = 0.0;
    for (var k = 0; k < n; k++) {
      let a = alphaAt(row * n + k);
      total += a;
      excess += a - priorAt(row * n + k);
    }
    let a = alphaAt(i);
    let own = (a - priorAt(i)) * trigamma(a) - trigamma(total) * excess;
    let dAlpha = up(2) * select(own, own + 2.0 * digamma(a), uniforms.referenceSign == 1);
    let e = exp(p[i]);
    result[i] = select(0.0, dAlpha * e, e >= 1e-6);`,
} as const;

function gradientCode(which: keyof typeof GRADIENTS, hasPrior: boolean): string {
  return `${which === 'p' ? SPECIAL_FUNCTIONS + priorCode(hasPrior) : ''}${UPSTREAM}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    ${GRADIENTS[which]}
  }
}
`;
}

function uniforms(inputs: Record<string, TensorInfo>, attrs: RegularizerTermsAttrs): ShaderUniform[] {
  const { covariance, weights, s, p } = inputs as Record<'covariance' | 'weights' | 's' | 'p', TensorInfo>;
  const rows = p.shape[0]!;
  const ints = [sizeOf(covariance), sizeOf(weights), sizeOf(s), rows, attrs.components, s.shape[1]!];
  return [
    ...ints.map((value) => ({ type: 'int32' as const, data: [value] })),
    { type: 'float32', data: [attrs.outerSamples] },
    { type: 'float32', data: [attrs.symmetricPrior] },
    { type: 'int32', data: [attrs.referenceSign ? 1 : 0] },
    { type: 'float32', data: [...attrs.termWeights] },
  ];
}

const NAMES = ['covariance', 'weights', 's', 'p'] as const;

/** Outputs the terms [4] and the regulariser [1], written into a buffer bound as a writable input. */
const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const named = inputs as Record<string, TensorInfo>;
  const hasPrior = named['prior'] !== undefined;
  const names = [...NAMES, ...(hasPrior ? ['prior'] : [])];
  const total = gpu.makeTensorInfo([1], 'float32');
  const terms = runShader(
    gpu,
    {
      key: `McevalRegularizerTerms_${Number(hasPrior)}`,
      inputs: [
        ...names.map((name) => ({ name, components: 1 as const })),
        { name: 'total', components: 1, writable: true },
      ],
      uniforms: UNIFORMS,
      workgroupSize: WORKGROUP,
      dispatch: [1, 1],
      outputSize: 4,
      code: forwardCode(hasPrior),
    },
    [...names.map((name) => named[name]!), total],
    uniforms(named, attrs as unknown as RegularizerTermsAttrs),
  );
  return [shaped(terms, [4]), total];
};

/** Inputs: the forward's, `upstream` [4] (the terms') and `upstreamTotal` [1] (the regulariser's). */
const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const named = inputs as Record<string, TensorInfo>;
  const hasPrior = named['prior'] !== undefined;
  const shared = uniforms(named, attrs as unknown as RegularizerTermsAttrs);
  return NAMES.map((which) => {
    const count = sizeOf(named[which]!);
    // A shader binds only what it reads (its layout is derived from the code).
    const names = [which, 'upstream', 'upstreamTotal', ...(which === 'p' && hasPrior ? ['prior'] : [])];
    const output = runShader(
      backend as unknown as WebGpuBackendLike,
      {
        key: `McevalRegularizerTermsGrad_${which}_${Number(hasPrior)}`,
        inputs: names.map((name) => ({ name, components: 1 })),
        uniforms: `${UNIFORMS} count : i32,`,
        workgroupSize: WORKGROUP,
        dispatch: elementwiseDispatch(count, WORKGROUP),
        outputSize: count,
        code: gradientCode(which, which === 'p' && hasPrior),
      },
      names.map((name) => named[name]!),
      [...shared, { type: 'int32', data: [count] }],
    );
    return shaped(output, [...named[which]!.shape]);
  });
};

export function webGpuRegularizerKernels(): KernelConfig[] {
  return [
    { kernelName: REGULARIZER_TERMS, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: REGULARIZER_TERMS_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
