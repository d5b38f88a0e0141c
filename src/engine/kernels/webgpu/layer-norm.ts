/**
 * LayerNorm on webgpu as two kernels: `McevalLayerNorm` (x [rows, hidden] flattened, weight, bias [hidden] →
 * y = (x − μ)·r·w + b, and per row μ and r = 1/√(mean((x − μ)²) + eps) as a second [rows, 2] output) and
 * `McevalLayerNormGrad` (x, stats, w, dy → dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w, x̂ = (x − μ)·r).
 * models/layers/layer-norm.ts uses them where registered; in tfjs ops the forward is eight dispatches and its
 * autodiff gradient about fifteen, for both norms of every encoder layer. One workgroup per row (row-shader.ts); the
 * variance is summed from x − μ in a second pass, as tfjs's moments computes it.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGpuBackendLike } from './shader.js';
import { ROW_CODE, ROW_WORKGROUP, rowShader, type NormAttrs } from './row-shader.js';

export const LAYER_NORM = 'McevalLayerNorm';
export const LAYER_NORM_GRAD = 'McevalLayerNormGrad';

const FORWARD = `${ROW_CODE}
fn main() {
  let row = rowIndex();
  let live = row < uniforms.rows;
  let base = min(row, uniforms.rows - 1) * uniforms.hidden;
  let n = f32(uniforms.hidden);
  var sum = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    sum += x[base + i];
  }
  let mean = workgroupSum(sum) / n;
  var squares = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    let centred = x[base + i] - mean;
    squares += centred * centred;
  }
  let r = inverseSqrt(workgroupSum(squares) / n + uniforms.eps);
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      result[base + i] = (x[base + i] - mean) * r * w[i] + b[i];
    }
    if (localIndex == 0u) {
      stats[2 * row] = mean;
      stats[2 * row + 1] = r;
    }
  }
}
`;

const BACKWARD = `${ROW_CODE}
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
    projection += g * ((x[base + i] - mean) * r);
  }
  let meanGradient = workgroupSum(gradientSum) / n;
  let meanProjection = workgroupSum(projection) / n;
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      let normalized = (x[base + i] - mean) * r;
      result[base + i] = (dy[base + i] * w[i] - meanGradient - normalized * meanProjection) * r;
    }
  }
}
`;

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, w, b } = inputs as Record<'x' | 'w' | 'b', TensorInfo>;
  const gpu = backend as unknown as WebGpuBackendLike;
  const stats = gpu.makeTensorInfo([...x.shape.slice(0, -1), 2], 'float32');
  const names = [{ name: 'x' }, { name: 'w' }, { name: 'b' }, { name: 'stats', writable: true as const }];
  const eps = (attrs as unknown as NormAttrs).eps;
  return [rowShader(gpu, LAYER_NORM, names, FORWARD, [x, w, b, stats], eps), stats];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, stats, w, dy } = inputs as Record<'x' | 'stats' | 'w' | 'dy', TensorInfo>;
  const names = ['x', 'stats', 'w', 'dy'].map((name) => ({ name }));
  const eps = (attrs as unknown as NormAttrs).eps;
  const gpu = backend as unknown as WebGpuBackendLike;
  return rowShader(gpu, LAYER_NORM_GRAD, names, BACKWARD, [x, stats, w, dy], eps);
};

export function webGpuLayerNormKernels(): KernelConfig[] {
  return [
    { kernelName: LAYER_NORM, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: LAYER_NORM_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
