/**
 * LayerNorm on webgpu as two kernels: `McevalLayerNorm` (x [rows, hidden] flattened, weight, bias [hidden] →
 * y = (x − μ)·r·w + b, and per row μ and r = 1/√(mean((x − μ)²) + eps) as a second [rows, 2] output) and
 * `McevalLayerNormGrad` (x, stats, w, dy → dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w, x̂ = (x − μ)·r).
 * Given a `residual` input too, both normalise x + residual, added as it is read (an encoder layer's residual
 * connection), so the sum is neither a dispatch nor a tensor of its own; with `residualDropout`, the residual is
 * dropped as it is read (the sublayer's hidden dropout, its mask made from its hash: hashed-dropout-wgsl.ts), and the
 * gradient kernel writes the residual's gradient, dx times the mask, beside dx. Given `dyPlus`, the gradient kernel
 * adds it to dy as it reads it: the upstream of the output's second reader (an encoder's next residual connection),
 * which tfjs would add by a dispatch of its own.
 * models/layers/layer-norm.ts uses them where registered; in tfjs ops the forward is eight dispatches and its
 * autodiff gradient about fifteen, for both norms of every encoder layer. One workgroup per row (row-shader.ts); the
 * variance is summed from x − μ in a second pass, as tfjs's moments computes it.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGpuBackendLike } from './shader.js';
import { ROW_CODE, ROW_WORKGROUP, rowShader, type MoreUniforms, type NormAttrs } from './row-shader.js';
import { HASHED_KEEP_WGSL, dropoutAt, dropoutUniformValues, dropoutUniforms } from './hashed-dropout-wgsl.js';
import type { HashedDropout } from '../../dropout-bits.js';

export const LAYER_NORM = 'McevalLayerNorm';
export const LAYER_NORM_GRAD = 'McevalLayerNormGrad';

/** Both kernels' attributes: eps, and the residual's dropout where it is dropped as it is added. */
export interface LayerNormAttrs extends NormAttrs {
  readonly residualDropout?: HashedDropout;
}

/** How a kernel reads its inputs: with a residual, dropped or not; the gradient's upstream in one or two parts. */
interface Reading {
  readonly residual: boolean;
  readonly dropped: boolean;
  readonly plus?: boolean;
}

/** WGSL `element(at)`: x's value at `at`, or x + residual's (times its dropout mask's element). */
const element = ({ residual, dropped }: Reading) => `${dropped ? HASHED_KEEP_WGSL : ''}
fn element(at : i32) -> f32 {
  return x[at]${!residual ? '' : dropped ? ` + residual[at] * ${dropoutAt('residual', 'at')}` : ' + residual[at]'};
}
`;

const forwardCode = (reading: Reading) => `${ROW_CODE}${element(reading)}
fn main() {
  let row = rowIndex();
  let live = row < uniforms.rows;
  let base = min(row, uniforms.rows - 1) * uniforms.hidden;
  let n = f32(uniforms.hidden);
  var sum = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    sum += element(base + i);
  }
  let mean = workgroupSum(sum) / n;
  var squares = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    let centred = element(base + i) - mean;
    squares += centred * centred;
  }
  let r = inverseSqrt(workgroupSum(squares) / n + uniforms.eps);
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      result[base + i] = (element(base + i) - mean) * r * w[i] + b[i];
    }
    if (localIndex == 0u) {
      stats[2 * row] = mean;
      stats[2 * row + 1] = r;
    }
  }
}
`;

/** WGSL `upstream(at)`: dy's value at `at`, or dy + dyPlus's (the output read twice). */
const upstream = (plus: boolean) => `
fn upstream(at : i32) -> f32 {
  return dy[at]${plus ? ' + dyPlus[at]' : ''};
}
`;

const backwardCode = (reading: Reading) => `${ROW_CODE}${element(reading)}${upstream(reading.plus === true)}
fn main() {
  let row = rowIndex();
  let live = row < uniforms.rows;
  let clamped = min(row, uniforms.rows - 1);
  let base = clamped * uniforms.hidden;
  let mean = stats[2 * clamped];
  let r = stats[2 * clamped + 1];
  let n = f32(uniforms.hidden);
  var gradientSum = 0.0;
  var projection = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    let g = upstream(base + i) * w[i];
    gradientSum += g;
    projection += g * ((element(base + i) - mean) * r);
  }
  let meanGradient = workgroupSum(gradientSum) / n;
  let meanProjection = workgroupSum(projection) / n;
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      let normalized = (element(base + i) - mean) * r;
      let dx = (upstream(base + i) * w[i] - meanGradient - normalized * meanProjection) * r;
      result[base + i] = dx;${
        reading.dropped
          ? `
      droppedGradient[base + i] = dx * ${dropoutAt('residual', 'base + i')};`
          : ''
      }
    }
  }
}
`;

/** x, then the residual where there is one, as the shaders name them. */
const normalised = (x: TensorInfo, residual: TensorInfo | undefined) =>
  residual === undefined
    ? { names: [{ name: 'x' }], tensors: [x] }
    : { names: [{ name: 'x' }, { name: 'residual' }], tensors: [x, residual] };

/** How `kernel` reads x, the residual and its dropout; a dropout without a residual is refused. */
function readingOf(kernel: string, residual: TensorInfo | undefined, dropout: HashedDropout | undefined): Reading {
  if (dropout !== undefined && residual === undefined)
    throw new Error(`${kernel}: a residual dropout without a residual`);
  return { residual: residual !== undefined, dropped: dropout !== undefined };
}

/** The reading's part of a pipeline's key. */
const keyOf = (name: string, { residual, dropped, plus }: Reading) =>
  `${name}${residual ? 'Residual' : ''}${dropped ? 'Dropped' : ''}${plus ? 'Plus' : ''}`;

/** The dropout's uniforms, where the residual is dropped. */
const dropoutFields = (dropout: HashedDropout | undefined): MoreUniforms =>
  dropout === undefined
    ? { fields: '', values: [] }
    : { fields: dropoutUniforms('residual'), values: dropoutUniformValues(dropout) };

/** Outputs y, then each row's μ and r. */
const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, residual, w, b } = inputs as Record<'x' | 'w' | 'b', TensorInfo> & { residual?: TensorInfo };
  const { eps, residualDropout } = attrs as unknown as LayerNormAttrs;
  const reading = readingOf(LAYER_NORM, residual, residualDropout);
  const gpu = backend as unknown as WebGpuBackendLike;
  const stats = gpu.makeTensorInfo([...x.shape.slice(0, -1), 2], 'float32');
  const read = normalised(x, residual);
  const names = [...read.names, { name: 'w' }, { name: 'b' }, { name: 'stats', writable: true as const }];
  const code = () => forwardCode(reading);
  const tensors = [...read.tensors, w, b, stats];
  return [rowShader(gpu, keyOf(LAYER_NORM, reading), names, code, tensors, eps, dropoutFields(residualDropout)), stats];
};

/**
 * Outputs dx, the gradient of x + residual (x's and, undropped, the residual's), from dy (+ dyPlus, the upstream of
 * the output's second reader); then, with a residual dropout, the residual's: dx times the mask.
 */
const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, residual, stats, w, dy, dyPlus } = inputs as Record<'x' | 'stats' | 'w' | 'dy', TensorInfo> & {
    residual?: TensorInfo;
    dyPlus?: TensorInfo;
  };
  const { eps, residualDropout } = attrs as unknown as LayerNormAttrs;
  const reading = { ...readingOf(LAYER_NORM_GRAD, residual, residualDropout), plus: dyPlus !== undefined };
  const gpu = backend as unknown as WebGpuBackendLike;
  const dropped = reading.dropped ? gpu.makeTensorInfo([...x.shape], 'float32') : undefined;
  const read = normalised(x, residual);
  // Each binding by name, the optional ones where given: dyPlus read, the residual's gradient written.
  const bound = [
    ...read.names.map((input, i) => ({ ...input, tensor: read.tensors[i]! })),
    { name: 'stats', tensor: stats },
    { name: 'w', tensor: w },
    { name: 'dy', tensor: dy },
    ...(dyPlus === undefined ? [] : [{ name: 'dyPlus', tensor: dyPlus }]),
    ...(dropped === undefined ? [] : [{ name: 'droppedGradient', writable: true as const, tensor: dropped }]),
  ];
  const dx = rowShader(
    gpu,
    keyOf(LAYER_NORM_GRAD, reading),
    bound.map(({ tensor: _, ...input }) => input),
    () => backwardCode(reading),
    bound.map(({ tensor }) => tensor),
    eps,
    dropoutFields(residualDropout),
  );
  return dropped === undefined ? dx : [dx, dropped];
};

export function webGpuLayerNormKernels(): KernelConfig[] {
  return [
    { kernelName: LAYER_NORM, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: LAYER_NORM_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
