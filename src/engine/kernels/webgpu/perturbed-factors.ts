/**
 * MonteCLoRA's perturbed factors for the layers of every input width of a group, on webgpu: A + ε√Σ ⊙ Σ_n w_n Z_n with
 * the noise Z drawn where it is used, by the hash of `McevalHashedNormals` (so neither Z [members, N, d_in·r] nor the
 * mixture Σ_n w_n Z_n is ever written), and its gradients in w and ε√Σ. One call takes every width: each width's
 * stacked A is an input and its factors an output, where a call per width read w and ε√Σ once each and tfjs added
 * their gradients. peft/monteclora/perturbed-factors.ts defines the op in tfjs ops and uses these kernels where they
 * are registered:
 *  - `McevalPerturbedFactors`: each width's stacked A `a0`, `a1`, … [members, d_in, r] (left out: the perturbations
 *    alone, for the noise-to-A diagnostic), the mixture weights w [L, 1, N] and the columns' scale ε√Σ [L, 1, r] of
 *    every layer, the members' noise keys and each width's first row → one [members, d_in, r] per width (and, with
 *    `withPerturbations`, the perturbations alone too, one more per width);
 *  - `McevalPerturbedFactorsGrad`: each width's upstream gradient `dSums0`, … [members, d_in, r], w and ε√Σ → ∂w
 *    [L, 1, N], and ∂(ε√Σ) [L, 1, r] as a second output, zero in the rows of no width. One workgroup per layer row
 *    sums its member's d_in·r terms in a fixed order, drawing the noise again.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { HASHED_NORMAL_WGSL, withHostKeys } from './hashed-normals.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  intUniform,
  runShader,
  shaped,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';
import { keptPerNumber } from '../../kept-per-number.js';

export const PERTURBED_FACTORS = 'McevalPerturbedFactors';
export const PERTURBED_FACTORS_GRAD = 'McevalPerturbedFactorsGrad';

/** The widest rank the gradient kernel takes: a workgroup's invocations are shared out between the rank's columns. */
export const PERTURBED_FACTORS_MAX_RANK = 256;

export interface PerturbedFactorsAttrs {
  /** u32 noise keys, one per member, width after width. */
  readonly keys: readonly number[];
  /** Per width: its members' first row of w and ε√Σ (the others follow it), their count and their d_in. */
  readonly firsts: readonly number[];
  readonly members: readonly number[];
  readonly rows: readonly number[];
  /** With the A's: write each width's perturbations as well, after the factors (perturbationsAlongsideBindings). */
  readonly withPerturbations?: boolean;
}

/**
 * Storage buffers the kernels bind for `widths` widths: the forward the keys, w, ε√Σ, and an A and a result each; the
 * gradient the keys, w, ε√Σ, an upstream gradient each and its two results.
 */
export const perturbedFactorBindings = (widths: number) => Math.max(3 + 2 * widths, 5 + widths);

/** Storage buffers the forward binds writing the perturbations beside the factors: one more per width. */
export const perturbationsAlongsideBindings = (widths: number) => 3 + 3 * widths;

const FORWARD_WORKGROUP = 256;
const GRAD_WORKGROUP = 256;

/**
 * Per width w: size (rows·r per member), count (members·size), first (its first row), members, rows, keyStart (its
 * first key) and start (its first value among all widths' factors); then N and r.
 */
const WIDTH_FIELDS = ['size', 'count', 'first', 'members', 'rows', 'keyStart', 'start'];

const uniformFields = keptPerNumber((widths) =>
  Array.from({ length: widths }, (_, w) => WIDTH_FIELDS.map((field) => `${field}${w} : i32,`).join(' '))
    .concat('components : i32, rank : i32,')
    .join('\n'),
);

/** Z_n's value at element k of a member's factor of `size` values: element n·size + k of the draw keyed `key`. */
const NOISE = `
fn noise(key : u32, n : i32, k : i32, size : i32) -> f32 {
  return hashedNormalAt(key, u32(n * size + k));
}`;

/**
 * The forward's part for width w: value e of its factors, into `result` (width 0) or `out<w>`, and with
 * `perturbations` the perturbation alone into `perturbation<w>`.
 */
function widthFactor(w: number, withMeans: boolean, perturbations: boolean): string {
  const u = (field: string) => `uniforms.${field}${w}`;
  const target = w === 0 ? 'result' : `out${w}`;
  const mean = withMeans ? `a${w}[e] + ` : '';
  const alone = perturbations
    ? `
  perturbation${w}[e] = mixed * scale;`
    : '';
  return `
fn factor${w}(e : i32) {
  let l = e / ${u('size')};
  let k = e - l * ${u('size')};
  let row = ${u('first')} + l;
  let key = bitcast<u32>(keys[${u('keyStart')} + l]);
  var mixed = 0.0;
  for (var n = 0; n < uniforms.components; n++) {
    mixed += f32(weights[row * uniforms.components + n]) * noise(key, n, k, ${u('size')});
  }
  let scale = columnScale[row * uniforms.rank + k % uniforms.rank];${alone}
  ${target}[e] = ${mean}mixed * scale;
}`;
}

const forwardCode = (widths: number, withMeans: boolean, perturbations: boolean) => `
${HASHED_NORMAL_WGSL}
${NOISE}
${Array.from({ length: widths }, (_, w) => widthFactor(w, withMeans, perturbations)).join('\n')}

fn main() {
  let e = ${ELEMENT_INDEX(FORWARD_WORKGROUP)};${Array.from(
    { length: widths },
    (_, w) => `
  if (e >= uniforms.start${w} && e < uniforms.start${w} + uniforms.count${w}) {
    factor${w}(e - uniforms.start${w});
  }`,
  ).join('')}
}
`;

/**
 * Workgroup `row` of the gradient: its width found among the widths' rows; invocation t takes column t % r and every
 * (GRAD_WORKGROUP / r)-th row from t / r of the member's factor (none outside the widths), then the workgroup adds up
 * the parts. The weights are read through f32(): a sparse mixture's one-hot weights are stored as int32 (tfjs-webgpu's
 * cast to float32 shares the buffer).
 */
const gradCode = (widths: number, components: number) => `
${HASHED_NORMAL_WGSL}
${NOISE}
${workgroupSumCode('f32', GRAD_WORKGROUP)}
var<workgroup> columnParts : array<f32, ${GRAD_WORKGROUP}>;

fn upstream(width : i32, at : i32) -> f32 {${Array.from(
  { length: widths },
  (_, w) => `
  if (width == ${w}) {
    return dSums${w}[at];
  }`,
).join('')}
  return 0.0;
}

fn main() {
  let row = i32(workgroupId.x);
  let t = i32(localIndex);
  let r = uniforms.rank;
  let lanes = ${GRAD_WORKGROUP} / r;
  let c = t % r;
  let scale = columnScale[row * r + c];
  var width = -1;
  var l = 0;
  var size = 0;
  var rows = 0;
  var keyAt = 0;${Array.from(
    { length: widths },
    (_, w) => `
  if (row >= uniforms.first${w} && row < uniforms.first${w} + uniforms.members${w}) {
    width = ${w};
    l = row - uniforms.first${w};
    size = uniforms.size${w};
    rows = uniforms.rows${w};
    keyAt = uniforms.keyStart${w} + l;
  }`,
  ).join('')}
  var dScale = 0.0;
  var dMixture : array<f32, ${components}>;
  // A row of no width sums nothing: its gradients are zero. (No early return: the sums below hold barriers, and the
  // workgroup id is not known to be uniform.)
  if (width >= 0 && t < lanes * r) {
    let key = bitcast<u32>(keys[keyAt]);
    for (var i = t / r; i < rows; i += lanes) {
      let k = i * r + c;
      let up = upstream(width, l * size + k);
      var mixed = 0.0;
      for (var n = 0; n < ${components}; n++) {
        let z = noise(key, n, k, size);
        mixed += f32(weights[row * ${components} + n]) * z;
        dMixture[n] += up * z;
      }
      dScale += up * mixed;
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

/** The uniforms of both kernels for the widths of `attrs`, rank r and N components. */
function uniforms(attrs: PerturbedFactorsAttrs, rank: number, components: number) {
  let keyStart = 0;
  let start = 0;
  const values = attrs.firsts.flatMap((first, w) => {
    const [members, rows] = [attrs.members[w]!, attrs.rows[w]!];
    const size = rows * rank;
    const fields = [size, members * size, first, members, rows, keyStart, start];
    keyStart += members;
    start += members * size;
    return fields;
  });
  return [...values, components, rank].map(intUniform);
}

/** Width w's factors' shape. */
const factorShape = (attrs: PerturbedFactorsAttrs, w: number, rank: number) => [
  attrs.members[w]!,
  attrs.rows[w]!,
  rank,
];

const perturbedFactors: KernelFunc = ({ inputs, backend, attrs }) => {
  const settings = attrs as unknown as PerturbedFactorsAttrs;
  const { weights, columnScale } = inputs as { weights: TensorInfo; columnScale: TensorInfo };
  const widths = settings.firsts.length;
  const means = Array.from({ length: widths }, (_, w) => inputs[`a${w}`]).filter((a) => a !== undefined);
  const withMeans = means.length > 0;
  const gpu = backend as unknown as WebGpuBackendLike;
  const rank = columnScale.shape[columnScale.shape.length - 1]!;
  const components = weights.shape[weights.shape.length - 1]!;
  const sizes = settings.members.map((members, w) => members * settings.rows[w]! * rank);
  const rest = sizes.slice(1).map((size) => gpu.makeTensorInfo([size], 'float32'));
  const alone = withMeans && settings.withPerturbations === true;
  const perturbations = alone ? sizes.map((size) => gpu.makeTensorInfo([size], 'float32')) : [];
  const written = (name: string) => ({ name, components: 1 as const, writable: true });
  const first = withHostKeys(gpu, settings.keys, (keys) =>
    runShader(
      gpu,
      {
        key: `McevalPerturbedFactors_${widths}_${Number(withMeans)}${Number(alone)}`,
        inputs: [
          ...['keys', ...means.map((_, w) => `a${w}`), 'weights', 'columnScale'].map((name) => ({
            name,
            components: 1 as const,
          })),
          ...rest.map((_, w) => written(`out${w + 1}`)),
          ...perturbations.map((_, w) => written(`perturbation${w}`)),
        ],
        uniforms: uniformFields(widths),
        workgroupSize: FORWARD_WORKGROUP,
        dispatch: elementwiseDispatch(
          sizes.reduce((a, b) => a + b, 0),
          FORWARD_WORKGROUP,
        ),
        outputSize: sizes[0]!,
        code: () => forwardCode(widths, withMeans, alone),
      },
      [keys, ...means, weights, columnScale, ...rest, ...perturbations],
      uniforms(settings, rank, components),
    ),
  );
  const shapedByWidth = (infos: TensorInfo[]) => infos.map((info, w) => shaped(info, factorShape(settings, w, rank)));
  return [...shapedByWidth([first, ...rest]), ...shapedByWidth(perturbations)];
};

const perturbedFactorsGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const settings = attrs as unknown as PerturbedFactorsAttrs;
  const { weights, columnScale } = inputs as { weights: TensorInfo; columnScale: TensorInfo };
  const widths = settings.firsts.length;
  const upstream = Array.from({ length: widths }, (_, w) => inputs[`dSums${w}`]!);
  const gpu = backend as unknown as WebGpuBackendLike;
  const rank = columnScale.shape[columnScale.shape.length - 1]!;
  const components = weights.shape[weights.shape.length - 1]!;
  const layers = weights.shape[0]!;
  const dColumnScale = gpu.makeTensorInfo([layers * rank], 'float32');
  const dWeights = withHostKeys(gpu, settings.keys, (keys) =>
    runShader(
      gpu,
      {
        key: `McevalPerturbedFactorsGrad_${widths}_${components}`,
        inputs: [
          ...['keys', ...upstream.map((_, w) => `dSums${w}`), 'weights', 'columnScale'].map((name) => ({
            name,
            components: 1 as const,
          })),
          { name: 'dColumnScale', components: 1, writable: true },
        ],
        uniforms: uniformFields(widths),
        workgroupSize: GRAD_WORKGROUP,
        dispatch: [layers, 1],
        outputSize: layers * components,
        code: () => gradCode(widths, components),
      },
      [keys, ...upstream, weights, columnScale, dColumnScale],
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
