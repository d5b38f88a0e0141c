/**
 * MonteCLoRA's regulariser on webgpu as kernels: `McevalRegularizerTerms` (covariance [L·M, r], weights [L·M, N],
 * s [L, r], p [L, N] and, for the random-prior ablation, the prior α⁰ [L, N] → the terms [KL_G/M, KL_W, KL_D, C/M]
 * summed over layers, and their weighted mean over the L layers (the regulariser itself, [1])) and
 * `McevalRegularizerTermsGrad` (+ the upstream gradients of both outputs → the four inputs' gradients). The maths of
 * peft/monteclora/host-regularizer.ts, which derives the gradients, in float32 with the series of
 * special-functions.ts for lnΓ, ψ and ψ′; in tfjs ops (kl.ts) the same terms and gradient are ~500 dispatches a step.
 * The concentration α = max(e^p, 1e-6) and the weighted mean are formed here too: as tfjs ops around the kernel they
 * were five dispatches forward and as many backward.
 * The forward pass is one workgroup summing strided slices, then a tree; the gradients one elementwise shader (one each
 * where the device binds too few buffers for all four). The WGSL is monteclora-wgsl.ts's, which fused-draw.ts shares.
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
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';
import {
  DRAW_UNIFORMS,
  REGULARIZER_GRADIENTS,
  drawUniformValues,
  regularizerSumsMain,
  regularizerTermsCode,
  regularizerUpstreamCode,
  type RegularizerAttrs,
} from './monteclora-wgsl.js';

export const REGULARIZER_TERMS = 'McevalRegularizerTerms';
export const REGULARIZER_TERMS_GRAD = 'McevalRegularizerTermsGrad';

/** Attributes: N, M and the regulariser's (its sign, prior and terms' weights). */
export interface RegularizerTermsAttrs extends RegularizerAttrs {
  readonly components: number;
  readonly outerSamples: number;
}

const WORKGROUP = 256;

const forwardCode = (hasPrior: boolean): string =>
  `${regularizerTermsCode(hasPrior)}${workgroupSumCode('vec4<f32>', WORKGROUP)}${regularizerSumsMain(WORKGROUP, {
    covariance: 'let c = covariance[i];',
    weight: 'let w = weights[i];',
    terms: 'result',
  })}`;

/** DRAW_UNIFORMS' values for the inputs: L from p, M the attribute, r from s, N from p. */
function uniforms(inputs: Record<string, TensorInfo>, attrs: RegularizerTermsAttrs, count = 0): ShaderUniform[] {
  const { s, p } = inputs as Record<'s' | 'p', TensorInfo>;
  return drawUniformValues({
    rows: p.shape[0]!,
    samples: attrs.outerSamples,
    rank: s.shape[1]!,
    components: p.shape[1]!,
    count,
    referenceSign: attrs.referenceSign,
    symmetricPrior: attrs.symmetricPrior,
    termWeights: attrs.termWeights,
  });
}

const NAMES = ['covariance', 'weights', 's', 'p'] as const;
type Name = (typeof NAMES)[number];

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
      inputs: [...scalarInputs(names), ...scalarInputs(['total'], true)],
      uniforms: DRAW_UNIFORMS,
      workgroupSize: WORKGROUP,
      dispatch: [1, 1],
      outputSize: 4,
      code: () => forwardCode(hasPrior),
    },
    [...names.map((name) => named[name]!), total],
    uniforms(named, attrs as unknown as RegularizerTermsAttrs),
  );
  return [shaped(terms, [4]), total];
};

/** Each input's gradient at element j, by REGULARIZER_GRADIENTS' function for it, and the inputs that reads. */
const GRADIENT_PARTS: Record<Name, { value: (j: string) => string; reads: (hasPrior: boolean) => string[] }> = {
  covariance: { value: (j) => `covarianceTermGradient(covariance[${j}])`, reads: () => ['covariance'] },
  weights: { value: (j) => `weightTermGradient(weights[${j}])`, reads: () => ['weights'] },
  s: { value: (j) => `sTermGradient(${j})`, reads: () => ['s'] },
  p: { value: (j) => `pTermGradient(${j})`, reads: (hasPrior) => ['p', ...(hasPrior ? ['prior'] : [])] },
};

/**
 * The gradients of `parts` in one elementwise dispatch over their elements one after another: the first's into the
 * output, the others' into writable bindings `d<name>`.
 */
function gradientCode(parts: readonly Name[], hasPrior: boolean): string {
  const functions = parts.map((part) =>
    part === 'p' ? REGULARIZER_GRADIENTS.p(hasPrior) : REGULARIZER_GRADIENTS[part],
  );
  let start = '0';
  const branches = parts.map((part, k) => {
    const end = k === parts.length - 1 ? 'uniforms.count' : `(${start} + ${COUNTS[part]})`;
    const target = k === 0 ? 'result' : `d${part}`;
    const branch = `if (i < ${end}) {
    let j = i - ${start};
    ${target}[j] = ${GRADIENT_PARTS[part].value('j')};
  }`;
    start = end;
    return branch;
  });
  return `${regularizerUpstreamCode('upstream', 'upstreamTotal')}${functions.join('')}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  ${branches.join(' else ')}
}
`;
}

/** Each input's element count, as DRAW_UNIFORMS holds it (p's is L·N). */
const COUNTS: Record<Name, string> = {
  covariance: 'uniforms.covarianceCount',
  weights: 'uniforms.weightCount',
  s: 'uniforms.sCount',
  p: '(uniforms.rows * uniforms.components)',
};

/**
 * Inputs: the forward's, `upstream` [4] (the terms') and `upstreamTotal` [1] (the regulariser's). Every gradient in one
 * dispatch where the device binds the inputs and the four outputs, else one dispatch each.
 */
const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const named = inputs as Record<string, TensorInfo>;
  const hasPrior = named['prior'] !== undefined;
  const reads = (parts: readonly Name[]) => [...parts.flatMap((part) => GRADIENT_PARTS[part].reads(hasPrior))];
  const together = reads(NAMES).length + 2 + NAMES.length <= storageBuffersPerShader(gpu);
  const dispatches: Name[][] = together ? [[...NAMES]] : NAMES.map((part) => [part]);
  const gradients = dispatches.flatMap((parts) => {
    const count = parts.reduce((n, part) => n + sizeOf(named[part]!), 0);
    const written = parts.slice(1).map((part) => gpu.makeTensorInfo([sizeOf(named[part]!)], 'float32'));
    // A shader binds only what it reads (its layout is derived from the code).
    const names = [...reads(parts), 'upstream', 'upstreamTotal'];
    const output = runShader(
      gpu,
      {
        key: `McevalRegularizerTermsGrad_${parts.join('_')}_${Number(hasPrior)}`,
        inputs: [
          ...scalarInputs(names),
          ...scalarInputs(
            parts.slice(1).map((part) => `d${part}`),
            true,
          ),
        ],
        uniforms: DRAW_UNIFORMS,
        workgroupSize: WORKGROUP,
        dispatch: elementwiseDispatch(count, WORKGROUP),
        outputSize: sizeOf(named[parts[0]!]!),
        code: () => gradientCode(parts, hasPrior),
      },
      [...names.map((name) => named[name]!), ...written],
      uniforms(named, attrs as unknown as RegularizerTermsAttrs, count),
    );
    return [output, ...written];
  });
  return NAMES.map((part, k) => shaped(gradients[k]!, [...named[part]!.shape]));
};

export function webGpuRegularizerKernels(): KernelConfig[] {
  return [
    { kernelName: REGULARIZER_TERMS, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: REGULARIZER_TERMS_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
