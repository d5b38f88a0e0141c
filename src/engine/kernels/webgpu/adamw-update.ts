/**
 * `McevalAdamW` on webgpu (the contract of engine/kernels/adamw-update.ts: inputs p0, g0, m0, v0, p1, …; six
 * coefficients per parameter; outputs the new p of each; m and v updated in place) as one elementwise shader per
 * parameter where tfjs's ops take fourteen dispatches: m ← β₁m + (1 − β₁)g and v ← β₂v + (1 − β₂)g² written back into
 * the moments' own buffers (writable inputs, shader.ts), and p′ = p·(1 − lr·λ) − (m / (√v / √(1 − β₂ᵗ) + ε))·lr /
 * (1 − β₁ᵗ) into a new one. The same float32 operations in the same order as the tfjs ops, though a GPU may fuse a
 * multiply and an add.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ADAMW_UPDATE, COEFFICIENT_KEYS } from '../adamw-update.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  forgetHostCopy,
  runShader,
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';

const WORKGROUP = 256;

// 1 − β is computed in float64 and rounded, as the tfjs ops' scalar is (1 − 0.999 in float32 is 1.3e-5 off).
const UNIFORMS =
  'count : i32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32, correction2 : f32, ' +
  'epsilon : f32, decay : f32, stepSize : f32,';

const CODE = `
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let gradient = g[i];
    let moment = m[i] * uniforms.beta1 + gradient * uniforms.oneMinusBeta1;
    let second = v[i] * uniforms.beta2 + (gradient * gradient) * uniforms.oneMinusBeta2;
    m[i] = moment;
    v[i] = second;
    let denominator = sqrt(second) / uniforms.correction2 + uniforms.epsilon;
    result[i] = p[i] * uniforms.decay - (moment / denominator) * uniforms.stepSize;
  }
}
`;

const INPUTS = [
  { name: 'p', components: 1 },
  { name: 'g', components: 1 },
  { name: 'm', components: 1, writable: true },
  { name: 'v', components: 1, writable: true },
] as const;

const adamwUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const flat = (attrs as unknown as { coefficients: number[] }).coefficients;
  const count = flat.length / COEFFICIENT_KEYS.length;
  return Array.from({ length: count }, (_, i) => {
    const [p, g, m, v] = ['p', 'g', 'm', 'v'].map((name) => inputs[`${name}${i}`]!) as TensorInfo[];
    const size = p!.shape.reduce((a, b) => a * b, 1);
    const [beta1, beta2, ...rest] = flat.slice(i * COEFFICIENT_KEYS.length, (i + 1) * COEFFICIENT_KEYS.length);
    const uniforms: ShaderUniform[] = [
      { type: 'int32', data: [size] },
      ...[beta1!, 1 - beta1!, beta2!, 1 - beta2!, ...rest].map((value) => ({
        type: 'float32' as const,
        data: [value],
      })),
    ];
    const next = runShader(
      gpu,
      {
        key: 'McevalAdamW',
        inputs: INPUTS,
        uniforms: UNIFORMS,
        workgroupSize: WORKGROUP,
        dispatch: elementwiseDispatch(size, WORKGROUP),
        outputSize: size,
        code: CODE,
      },
      [p!, g!, m!, v!],
      uniforms,
    );
    // A host copy left by an earlier read of the moments would now be stale.
    forgetHostCopy(gpu, m!);
    forgetHostCopy(gpu, v!);
    return { dataId: next.dataId, shape: [...p!.shape], dtype: 'float32' as const };
  });
};

export function webGpuAdamwUpdateKernel(): KernelConfig {
  return { kernelName: ADAMW_UPDATE, backendName: 'webgpu', kernelFunc: adamwUpdate };
}
