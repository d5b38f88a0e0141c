/**
 * RMSNorm on webgpu as two kernels: `McevalRmsNorm` (x [rows, hidden] flattened, weight [hidden] → y = x·r·w and
 * r = 1/√(mean(x²) + eps) per row) and `McevalRmsNormGrad` (x, r, w, dy → dx = r·(g − x̂·mean(g·x̂)) with g = dy·w,
 * x̂ = x·r, plus an optional addend). models/layers/rms-norm.ts uses them where registered; in tfjs ops the forward
 * is six dispatches and the input gradient seven, for every norm of every layer. One workgroup per row: its
 * invocations sum strided slices, then a tree; r is the forward's second output (a writable input, shader.ts).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WebGpuBackendLike } from './shader.js';
import { ROW_CODE, ROW_WORKGROUP, rowShader, type NormAttrs } from './row-shader.js';

export const RMS_NORM = 'McevalRmsNorm';
export const RMS_NORM_GRAD = 'McevalRmsNormGrad';

const FORWARD = `${ROW_CODE}
fn main() {
  let row = rowIndex();
  let live = row < uniforms.rows;
  let base = min(row, uniforms.rows - 1) * uniforms.hidden;
  var squares = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    let value = x[base + i];
    squares += value * value;
  }
  let r = inverseSqrt(workgroupSum(squares) / f32(uniforms.hidden) + uniforms.eps);
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      result[base + i] = x[base + i] * r * w[i];
    }
    if (localIndex == 0u) {
      rms[row] = r;
    }
  }
}
`;

/** The input gradient; with `addend`, an addend shaped like x added to it (a residual stream's other gradient). */
const backwardCode = (addend: boolean) => `${ROW_CODE}
fn main() {
  let row = rowIndex();
  let live = row < uniforms.rows;
  let clamped = min(row, uniforms.rows - 1);
  let base = clamped * uniforms.hidden;
  let r = rms[clamped];
  var projection = 0.0;
  for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
    projection += dy[base + i] * w[i] * (x[base + i] * r);
  }
  let mean = workgroupSum(projection) / f32(uniforms.hidden);
  if (live) {
    for (var i = i32(localIndex); i < uniforms.hidden; i += ${ROW_WORKGROUP}) {
      let normalized = x[base + i] * r;
      result[base + i] = ${addend ? 'addend[base + i] + ' : ''}(dy[base + i] * w[i] - normalized * mean) * r;
    }
  }
}
`;

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, w } = inputs as { x: TensorInfo; w: TensorInfo };
  const gpu = backend as unknown as WebGpuBackendLike;
  const rms = gpu.makeTensorInfo([...x.shape.slice(0, -1), 1], 'float32');
  const names = [{ name: 'x' }, { name: 'w' }, { name: 'rms', writable: true as const }];
  const y = rowShader(gpu, 'McevalRmsNorm', names, () => FORWARD, [x, w, rms], (attrs as unknown as NormAttrs).eps);
  return [y, rms];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, rms, w, dy, addend } = inputs as Record<'x' | 'rms' | 'w' | 'dy', TensorInfo> & { addend?: TensorInfo };
  const given = addend === undefined ? [x, rms, w, dy] : [x, rms, w, dy, addend];
  const names = ['x', 'rms', 'w', 'dy', 'addend'].slice(0, given.length).map((name) => ({ name }));
  const eps = (attrs as unknown as NormAttrs).eps;
  const key = `McevalRmsNormGrad${addend === undefined ? '' : 'Plus'}`;
  return rowShader(
    backend as unknown as WebGpuBackendLike,
    key,
    names,
    () => backwardCode(addend !== undefined),
    given,
    eps,
  );
};

export function webGpuRmsNormKernels(): KernelConfig[] {
  return [
    { kernelName: RMS_NORM, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: RMS_NORM_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
