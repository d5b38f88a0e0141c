/**
 * LayerNorm on webgpu as two kernels: `McevalLayerNorm` (x [rows, hidden] flattened, weight, bias [hidden] →
 * y = (x − μ)·r·w + b, and per row μ and r = 1/√(mean((x − μ)²) + eps) as a second [rows, 2] output) and
 * `McevalLayerNormGrad` (x, stats, w, dy → dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w, x̂ = (x − μ)·r).
 * Given a `residual` input too, both normalise x + residual, added as it is read (an encoder layer's residual
 * connection), so the sum is neither a dispatch nor a tensor of its own.
 * models/layers/layer-norm.ts uses them where registered; in tfjs ops the forward is eight dispatches and its
 * autodiff gradient about fifteen, for both norms of every encoder layer. One workgroup per row (row-shader.ts); the
 * variance is summed from x − μ in a second pass, as tfjs's moments computes it.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGpuBackendLike } from './shader.js';
import { ROW_CODE, ROW_WORKGROUP, rowShader, type NormAttrs } from './row-shader.js';

export const LAYER_NORM = 'McevalLayerNorm';
export const LAYER_NORM_GRAD = 'McevalLayerNormGrad';

/** WGSL `element(at)`: x's value at `at`, or x + residual's. */
const element = (residual: boolean) => `
fn element(at : i32) -> f32 {
  return x[at]${residual ? ' + residual[at]' : ''};
}
`;

const forwardCode = (residual: boolean) => `${ROW_CODE}${element(residual)}
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

const backwardCode = (residual: boolean) => `${ROW_CODE}${element(residual)}
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
    let g = dy[base + i] * w[i];
    gradientSum += g;
    projection += g * ((element(base + i) - mean) * r);
  }
  let meanGradient = workgroupSum(gradientSum) / n;
  let meanProjection = workgroupSum(projection) / n;
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      let normalized = (element(base + i) - mean) * r;
      result[base + i] = (dy[base + i] * w[i] - meanGradient - normalized * meanProjection) * r;
    }
  }
}
`;

/** x, then the residual where there is one, as the shaders name them. */
const normalised = (x: TensorInfo, residual: TensorInfo | undefined) =>
  residual === undefined
    ? { names: [{ name: 'x' }], tensors: [x] }
    : { names: [{ name: 'x' }, { name: 'residual' }], tensors: [x, residual] };

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, residual, w, b } = inputs as Record<'x' | 'w' | 'b', TensorInfo> & { residual?: TensorInfo };
  const gpu = backend as unknown as WebGpuBackendLike;
  const stats = gpu.makeTensorInfo([...x.shape.slice(0, -1), 2], 'float32');
  const read = normalised(x, residual);
  const names = [...read.names, { name: 'w' }, { name: 'b' }, { name: 'stats', writable: true as const }];
  const eps = (attrs as unknown as NormAttrs).eps;
  const key = `${LAYER_NORM}${residual === undefined ? '' : 'Residual'}`;
  const code = () => forwardCode(residual !== undefined);
  return [rowShader(gpu, key, names, code, [...read.tensors, w, b, stats], eps), stats];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, residual, stats, w, dy } = inputs as Record<'x' | 'stats' | 'w' | 'dy', TensorInfo> & {
    residual?: TensorInfo;
  };
  const read = normalised(x, residual);
  const names = [...read.names, ...['stats', 'w', 'dy'].map((name) => ({ name }))];
  const eps = (attrs as unknown as NormAttrs).eps;
  const gpu = backend as unknown as WebGpuBackendLike;
  const key = `${LAYER_NORM_GRAD}${residual === undefined ? '' : 'Residual'}`;
  return rowShader(gpu, key, names, () => backwardCode(residual !== undefined), [...read.tensors, stats, w, dy], eps);
};

export function webGpuLayerNormKernels(): KernelConfig[] {
  return [
    { kernelName: LAYER_NORM, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: LAYER_NORM_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
