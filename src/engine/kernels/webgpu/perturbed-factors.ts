/**
 * MonteCLoRA's perturbed factors on webgpu: each layer's A + ε√Σ ⊙ Σ_n w_n Z_n with the noise Z drawn where it is
 * used, by the hash of `McevalHashedNormals` (so neither Z [N, d_in·r] nor the mixture Σ_n w_n Z_n is ever written),
 * and its gradients in w and ε√Σ. Each layer's A is read, and its A′ written, in the layer's own buffer: as many
 * layers a dispatch as the device binds, where one dispatch over stacks of every width's A cost a copy per layer each
 * way — the A's into their stacks, A′ cut out of its stack, the A′ gradients into theirs: 105 copies (and three tfjs
 * joins and cuts) a stories260K step, for eight dispatches more. peft/monteclora/perturbed-factors.ts defines the op in
 * tfjs ops and uses these kernels where they are registered:
 *  - `McevalPerturbedFactors`: each layer's A `a0`, `a1`, … [d_in, r] (left out: the perturbations alone), the mixture
 *    weights w [L, 1, N] and the columns' scale ε√Σ [L, 1, r] of every layer, and the layers' noise keys and d_in →
 *    each layer's A + P (or P alone), then Σ P² and Σ A² per workgroup ([workgroups, 2], the noise-to-A diagnostic's
 *    sums: regularizer-log.ts adds them up);
 *  - `McevalPerturbedFactorsGrad`: each layer's upstream gradient `dFactor0`, … [d_in, r], w and ε√Σ → ∂w [L, 1, N],
 *    and ∂(ε√Σ) [L, 1, r] as a second output. One workgroup per layer sums its d_in·r terms in a fixed order, drawing
 *    the noise again.
 * Layer l is row l of w and ε√Σ, and keys[l] its noise key.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { HASHED_NORMAL_WGSL, withHostKeys } from './hashed-normals.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  intUniform,
  runShader,
  shaped,
  storageBuffersPerShader,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';
import { bindingRuns } from './in-place.js';
import { keptPerNumber } from '../../kept-per-number.js';

export const PERTURBED_FACTORS = 'McevalPerturbedFactors';
export const PERTURBED_FACTORS_GRAD = 'McevalPerturbedFactorsGrad';

/** The widest rank the gradient kernel takes: a workgroup's invocations are shared out between the rank's columns. */
export const PERTURBED_FACTORS_MAX_RANK = 256;

export interface PerturbedFactorsAttrs {
  /** u32 noise keys, one per layer. */
  readonly keys: readonly number[];
  /** Each layer's d_in. */
  readonly rows: readonly number[];
}

/** Storage buffers a dispatch binds besides its layers': forward keys, w, ε√Σ and the sums; backward five. */
const FORWARD_SHARED = 4;
const GRAD_SHARED = 5;

const FORWARD_WORKGROUP = 256;
const GRAD_WORKGROUP = 256;

/** The layers' numbers in dispatches of as many as `available` bindings take at `each` a layer (in order). */
const runsOf = (layers: number, each: number, available: number): number[][] =>
  bindingRuns(
    Array.from({ length: layers }, (_, l) => l),
    () => each,
    Math.max(each, available),
  );

/**
 * Per layer j of a dispatch: size (d_in·r) and start (its first element in the dispatch); the dispatch's first layer,
 * and its workgroups' first pair of sums.
 */
const forwardFields = keptPerNumber((count) =>
  Array.from({ length: count }, (_, j) => `size${j} : i32, start${j} : i32,`)
    .concat('firstRow : i32, components : i32, rank : i32, squaresAt : i32,')
    .join('\n'),
);

/** Per layer j of a dispatch: size (d_in·r) and rows (d_in); the dispatch's first layer. */
const gradFields = keptPerNumber((count) =>
  Array.from({ length: count }, (_, j) => `size${j} : i32, rows${j} : i32,`)
    .concat('firstRow : i32, rank : i32,')
    .join('\n'),
);

/** Z_n's value at element k of a layer's factor of `size` values: element n·size + k of the draw keyed `key`. */
const NOISE = `
fn noise(key : u32, n : i32, k : i32, size : i32) -> f32 {
  return hashedNormalAt(key, u32(n * size + k));
}`;

/**
 * The forward for `count` layers: element e of the dispatch is element k of layer j's factor; its P, A + P into
 * out<j> (P alone without the A's), and the workgroup's Σ P² and Σ A² into the result at its place.
 */
const forwardCode = (count: number, withMeans: boolean) => `
${HASHED_NORMAL_WGSL}
${NOISE}
${workgroupSumCode('vec2<f32>', FORWARD_WORKGROUP)}

fn perturbation(row : i32, k : i32, size : i32) -> f32 {
  let key = bitcast<u32>(keys[row]);
  var mixed = 0.0;
  for (var n = 0; n < uniforms.components; n++) {
    mixed += f32(weights[row * uniforms.components + n]) * noise(key, n, k, size);
  }
  return mixed * columnScale[row * uniforms.rank + k % uniforms.rank];
}

fn main() {
  let e = ${ELEMENT_INDEX(FORWARD_WORKGROUP)};
  var squares = vec2<f32>(0.0);${Array.from(
    { length: count },
    (_, j) => `
  if (e >= uniforms.start${j} && e < uniforms.start${j} + uniforms.size${j}) {
    let k = e - uniforms.start${j};
    let p = perturbation(uniforms.firstRow + ${j}, k, uniforms.size${j});${
      withMeans
        ? `
    let a = a${j}[k];
    out${j}[k] = a + p;
    squares = vec2<f32>(p * p, a * a);`
        : `
    out${j}[k] = p;
    squares = vec2<f32>(p * p, 0.0);`
    }
  }`,
  ).join('')}
  let sums = workgroupSum(squares);
  if (localIndex == 0u) {
    let at = 2 * (uniforms.squaresAt + i32(workgroupId.y * numWorkgroups.x + workgroupId.x));
    result[at] = sums.x;
    result[at + 1] = sums.y;
  }
}
`;

/**
 * The gradient for `count` layers: workgroup j takes layer firstRow + j; invocation t takes column t % r and every
 * (GRAD_WORKGROUP / r)-th row from t / r of its upstream gradient, then the workgroup adds up the parts. Each layer's
 * loop is written out reading its own binding, in a branch the whole workgroup takes. The weights are read through
 * f32(): a sparse mixture's one-hot weights are stored as int32 (tfjs-webgpu's cast to float32 shares the buffer).
 */
const gradCode = (count: number, components: number) => `
${HASHED_NORMAL_WGSL}
${NOISE}
${workgroupSumCode('f32', GRAD_WORKGROUP)}
var<workgroup> columnParts : array<f32, ${GRAD_WORKGROUP}>;
var<private> dScale : f32;
var<private> dMixture : array<f32, ${components}>;
${Array.from(
  { length: count },
  (_, j) => `
fn layer${j}(row : i32, t : i32, lanes : i32) {
  let r = uniforms.rank;
  let c = t % r;
  let key = bitcast<u32>(keys[row]);
  for (var i = t / r; i < uniforms.rows${j}; i += lanes) {
    let k = i * r + c;
    let up = dFactor${j}[k];
    var mixed = 0.0;
    for (var n = 0; n < ${components}; n++) {
      let z = noise(key, n, k, uniforms.size${j});
      mixed += f32(weights[row * ${components} + n]) * z;
      dMixture[n] += up * z;
    }
    dScale += up * mixed;
  }
}`,
).join('\n')}

fn main() {
  let j = i32(workgroupId.x);
  let row = uniforms.firstRow + j;
  let t = i32(localIndex);
  let r = uniforms.rank;
  let lanes = ${GRAD_WORKGROUP} / r;
  let scale = columnScale[row * r + t % r];
  if (t < lanes * r) {${Array.from(
    { length: count },
    (_, j) => `
    if (j == ${j}) {
      layer${j}(row, t, lanes);
    }`,
  ).join('')}
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

interface Shapes {
  readonly gpu: WebGpuBackendLike;
  readonly settings: PerturbedFactorsAttrs;
  readonly rank: number;
  readonly components: number;
}

function shapesOf(backend: unknown, attrs: unknown, weights: TensorInfo, columnScale: TensorInfo): Shapes {
  const settings = attrs as PerturbedFactorsAttrs;
  if (weights.shape[0] !== settings.keys.length || settings.rows.length !== settings.keys.length)
    throw new Error(`${PERTURBED_FACTORS}: ${settings.keys.length} keys and ${weights.shape[0]} rows of weights`);
  return {
    gpu: backend as WebGpuBackendLike,
    settings,
    rank: columnScale.shape[columnScale.shape.length - 1]!,
    components: weights.shape[weights.shape.length - 1]!,
  };
}

const read = (name: string) => ({ name, components: 1 as const });
const written = (name: string) => ({ name, components: 1 as const, writable: true });

const perturbedFactors: KernelFunc = ({ inputs, backend, attrs }) => {
  const { weights, columnScale } = inputs as { weights: TensorInfo; columnScale: TensorInfo };
  const { gpu, settings, rank, components } = shapesOf(backend, attrs, weights, columnScale);
  const layers = settings.keys.length;
  const means = inputs.a0 !== undefined;
  const outputs = settings.rows.map((rows) => gpu.makeTensorInfo([rows * rank], 'float32'));
  const runs = runsOf(layers, means ? 2 : 1, storageBuffersPerShader(gpu) - FORWARD_SHARED);
  const sizes = runs.map((members) => members.map((l) => settings.rows[l]! * rank));
  const dispatches = sizes.map((own) =>
    elementwiseDispatch(
      own.reduce((a, b) => a + b, 0),
      FORWARD_WORKGROUP,
    ),
  );
  const workgroups = dispatches.map(([x, y]) => x * y);
  const squares = gpu.makeTensorInfo([2 * workgroups.reduce((a, b) => a + b, 0)], 'float32');
  withHostKeys(gpu, settings.keys, (keys) => {
    let squaresAt = 0;
    runs.forEach((members, d) => {
      const count = members.length;
      let start = 0;
      const fields = sizes[d]!.flatMap((size) => {
        start += size;
        return [size, start - size];
      });
      runShader(
        gpu,
        {
          key: `McevalPerturbedFactors_${count}_${Number(means)}`,
          inputs: [
            ...['keys', 'weights', 'columnScale', ...(means ? members.map((_, j) => `a${j}`) : [])].map(read),
            ...members.map((_, j) => written(`out${j}`)),
          ],
          uniforms: forwardFields(count),
          workgroupSize: FORWARD_WORKGROUP,
          dispatch: dispatches[d]!,
          outputSize: squares.shape[0]!,
          code: () => forwardCode(count, means),
        },
        [
          keys,
          weights,
          columnScale,
          ...(means ? members.map((l) => inputs[`a${l}`]!) : []),
          ...members.map((l) => outputs[l]!),
        ],
        [...fields, members[0]!, components, rank, squaresAt].map(intUniform),
        squares,
      );
      squaresAt += workgroups[d]!;
    });
  });
  return [
    ...outputs.map((output, l) => shaped(output, [settings.rows[l]!, rank])),
    shaped(squares, [squares.shape[0]! / 2, 2]),
  ];
};

const perturbedFactorsGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { weights, columnScale } = inputs as { weights: TensorInfo; columnScale: TensorInfo };
  const { gpu, settings, rank, components } = shapesOf(backend, attrs, weights, columnScale);
  const layers = settings.keys.length;
  const dWeights = gpu.makeTensorInfo([layers * components], 'float32');
  const dColumnScale = gpu.makeTensorInfo([layers * rank], 'float32');
  withHostKeys(gpu, settings.keys, (keys) =>
    runsOf(layers, 1, storageBuffersPerShader(gpu) - GRAD_SHARED).forEach((members) => {
      const count = members.length;
      runShader(
        gpu,
        {
          key: `McevalPerturbedFactorsGrad_${count}_${components}`,
          inputs: [
            ...['keys', ...members.map((_, j) => `dFactor${j}`), 'weights', 'columnScale'].map(read),
            written('dColumnScale'),
          ],
          uniforms: gradFields(count),
          workgroupSize: GRAD_WORKGROUP,
          dispatch: [count, 1],
          outputSize: layers * components,
          code: () => gradCode(count, components),
        },
        [keys, ...members.map((l) => inputs[`dFactor${l}`]!), weights, columnScale, dColumnScale],
        [...members.flatMap((l) => [settings.rows[l]! * rank, settings.rows[l]!]), members[0]!, rank].map(intUniform),
        dWeights,
      );
    }),
  );
  return [shaped(dWeights, [...weights.shape]), shaped(dColumnScale, [...columnScale.shape])];
};

export function webGpuPerturbedFactorsKernels(): KernelConfig[] {
  return [
    { kernelName: PERTURBED_FACTORS, backendName: 'webgpu', kernelFunc: perturbedFactors },
    { kernelName: PERTURBED_FACTORS_GRAD, backendName: 'webgpu', kernelFunc: perturbedFactorsGrad },
  ];
}
