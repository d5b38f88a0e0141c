/**
 * MonteCLoRA's perturbed factors for the layers of one input width, on webgpu: A + ε√Σ ⊙ Σ_n w_n Z_n with the noise
 * Z drawn where it is used, by the hash of `McevalHashedNormals` (so neither Z [members, N, d_in·r] nor the mixture
 * Σ_n w_n Z_n is ever written), and its gradients in w and ε√Σ. peft/monteclora/perturbed-factors.ts defines the op in
 * tfjs ops and uses these kernels where they are registered:
 *  - `McevalPerturbedFactors`: the stacked A [members, d_in, r] (left out: the perturbation alone, for the noise-to-A
 *    diagnostic), the mixture weights w [L, 1, N] and the columns' scale ε√Σ [L, 1, r] of every layer, the members'
 *    noise keys and the row of the first member → [members, d_in, r];
 *  - `McevalPerturbedFactorsGrad`: the upstream gradient [members, d_in, r], w and ε√Σ → ∂w [L, 1, N], and ∂(ε√Σ)
 *    [L, 1, r] as a second output, zero in the rows of other widths. One workgroup per layer row sums its member's
 *    d_in·r terms in a fixed order, drawing the noise again.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { HASHED_NORMAL_WGSL, withHostKeys } from './hashed-normals.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  runShader,
  shaped,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';

export const PERTURBED_FACTORS = 'McevalPerturbedFactors';
export const PERTURBED_FACTORS_GRAD = 'McevalPerturbedFactorsGrad';

/** The widest rank the gradient kernel takes: a workgroup's invocations are shared out between the rank's columns. */
export const PERTURBED_FACTORS_MAX_RANK = 256;

export interface PerturbedFactorsAttrs {
  /** u32 noise keys, one per member (the members' rows of w and ε√Σ are first, first + 1, …). */
  readonly keys: readonly number[];
  readonly first: number;
  /** d_in: each member's factor is [rows, r]. */
  readonly rows: number;
}

const FORWARD_WORKGROUP = 256;
const GRAD_WORKGROUP = 256;

// size: rows·r per member; count: members·size; components: N; rank: r.
const UNIFORMS = 'size : i32, count : i32, components : i32, rank : i32, first : i32, rows : i32,';

/** Z_n's value at element k of member l's factor: element n·size + k of the draw keyed keys[l]. */
const NOISE = `
fn noise(key : u32, n : i32, k : i32) -> f32 {
  return hashedNormalAt(key, u32(n * uniforms.size + k));
}`;

const forwardCode = (withMeans: boolean) => `
${HASHED_NORMAL_WGSL}
${NOISE}

fn main() {
  let e = ${ELEMENT_INDEX(FORWARD_WORKGROUP)};
  if (e < uniforms.count) {
    let l = e / uniforms.size;
    let k = e - l * uniforms.size;
    let row = uniforms.first + l;
    let key = bitcast<u32>(keys[l]);
    var mixed = 0.0;
    for (var n = 0; n < uniforms.components; n++) {
      mixed += f32(weights[row * uniforms.components + n]) * noise(key, n, k);
    }
    result[e] = ${withMeans ? 'a[e] + ' : ''}mixed * columnScale[row * uniforms.rank + k % uniforms.rank];
  }
}
`;

/**
 * Workgroup `row` of the gradient: invocation t takes column t % r and every (GRAD_WORKGROUP / r)-th row from t / r of
 * the member's factor (none outside the members), then the workgroup adds up the parts. The weights are read through
 * f32(): a sparse mixture's one-hot weights are stored as int32 (tfjs-webgpu's cast to float32 shares the buffer).
 */
const gradCode = (components: number) => `
${HASHED_NORMAL_WGSL}
${NOISE}
${workgroupSumCode('f32', GRAD_WORKGROUP)}
var<workgroup> columnParts : array<f32, ${GRAD_WORKGROUP}>;

fn main() {
  let row = i32(workgroupId.x);
  let t = i32(localIndex);
  let r = uniforms.rank;
  let l = row - uniforms.first;
  let lanes = ${GRAD_WORKGROUP} / r;
  let c = t % r;
  let scale = columnScale[row * r + c];
  var dScale = 0.0;
  var dMixture : array<f32, ${components}>;
  // A row of another width sums nothing: its gradients are zero. (No early return: the sums below hold barriers, and
  // the workgroup id is not known to be uniform.)
  if (l >= 0 && l * uniforms.size < uniforms.count && t < lanes * r) {
    let key = bitcast<u32>(keys[l]);
    for (var i = t / r; i < uniforms.rows; i += lanes) {
      let k = i * r + c;
      let upstream = dSums[l * uniforms.size + k];
      var mixed = 0.0;
      for (var n = 0; n < ${components}; n++) {
        let z = noise(key, n, k);
        mixed += f32(weights[row * ${components} + n]) * z;
        dMixture[n] += upstream * z;
      }
      dScale += upstream * mixed;
    }
  }
  columnParts[t] = dScale;
  workgroupBarrier();
  if (t < r) {
    var total = 0.0;
    for (var lane = 0; lane < lanes; lane++) {
      total += columnParts[lane * r + t];
    }
    dColumnScale[row * r + t] = total;
  }
  for (var n = 0; n < ${components}; n++) {
    let sum = workgroupSum(dMixture[n] * scale);
    if (t == 0) {
      result[row * ${components} + n] = sum;
    }
  }
}
`;

/** The uniforms of both kernels for `members` members of rows × r, N components. */
function uniforms(attrs: PerturbedFactorsAttrs, rank: number, components: number) {
  const size = attrs.rows * rank;
  const values = [size, attrs.keys.length * size, components, rank, attrs.first, attrs.rows];
  return values.map((value) => ({ type: 'int32' as const, data: [value] }));
}

const perturbedFactors: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, weights, columnScale } = inputs as { a?: TensorInfo; weights: TensorInfo; columnScale: TensorInfo };
  const settings = attrs as unknown as PerturbedFactorsAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const rank = columnScale.shape[columnScale.shape.length - 1]!;
  const components = weights.shape[weights.shape.length - 1]!;
  const count = settings.keys.length * settings.rows * rank;
  const output = withHostKeys(gpu, settings.keys, (keys) =>
    runShader(
      gpu,
      {
        key: `McevalPerturbedFactors_${Number(a !== undefined)}`,
        inputs: ['keys', ...(a ? ['a'] : []), 'weights', 'columnScale'].map((name) => ({ name, components: 1 })),
        uniforms: UNIFORMS,
        workgroupSize: FORWARD_WORKGROUP,
        dispatch: elementwiseDispatch(count, FORWARD_WORKGROUP),
        outputSize: count,
        code: forwardCode(a !== undefined),
      },
      [keys, ...(a ? [a] : []), weights, columnScale],
      uniforms(settings, rank, components),
    ),
  );
  return shaped(output, [settings.keys.length, settings.rows, rank]);
};

const perturbedFactorsGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dSums, weights, columnScale } = inputs as { dSums: TensorInfo; weights: TensorInfo; columnScale: TensorInfo };
  const settings = attrs as unknown as PerturbedFactorsAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const rank = columnScale.shape[columnScale.shape.length - 1]!;
  const components = weights.shape[weights.shape.length - 1]!;
  const layers = weights.shape[0]!;
  const dColumnScale = gpu.makeTensorInfo([layers * rank], 'float32');
  const dWeights = withHostKeys(gpu, settings.keys, (keys) =>
    runShader(
      gpu,
      {
        key: `McevalPerturbedFactorsGrad_${components}`,
        inputs: [
          ...['keys', 'dSums', 'weights', 'columnScale'].map((name) => ({ name, components: 1 as const })),
          { name: 'dColumnScale', components: 1, writable: true },
        ],
        uniforms: UNIFORMS,
        workgroupSize: GRAD_WORKGROUP,
        dispatch: [layers, 1],
        outputSize: layers * components,
        code: gradCode(components),
      },
      [keys, dSums, weights, columnScale, dColumnScale],
      uniforms(settings, rank, components),
    ),
  );
  return [shaped(dWeights, [...weights.shape]), shaped(dColumnScale, [...columnScale.shape])];
};

export function webGpuPerturbedFactorsKernels(): KernelConfig[] {
  return [
    { kernelName: PERTURBED_FACTORS, backendName: 'webgpu', kernelFunc: perturbedFactors },
    { kernelName: PERTURBED_FACTORS_GRAD, backendName: 'webgpu', kernelFunc: perturbedFactorsGrad },
  ];
}
