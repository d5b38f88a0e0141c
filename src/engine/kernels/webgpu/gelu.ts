/**
 * The exact GELU on webgpu as two elementwise kernels: `McevalGelu` (x → ½x(1 + erf(x/√2))) and `McevalGeluGrad`
 * (x, dy → dy·(½(1 + erf(x/√2)) + x·φ(x)), φ the standard normal density). erf is tfjs-webgpu's own (Abramowitz and
 * Stegun 7.1.26, its constants from tfjs-core), so the forward matches tfjs's composed ops on this backend.
 * models/layers/layer-norm.ts's gelu uses them where registered; in tfjs ops the forward is five dispatches and its
 * autodiff gradient about eight, over [tokens, intermediate], for every encoder layer.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf.js';
import { ELEMENT_INDEX, type WebGpuBackendLike } from './shader.js';
import { ELEMENTWISE_WORKGROUP, elementwiseShader } from './elementwise.js';

export const GELU = 'McevalGelu';
export const GELU_GRAD = 'McevalGeluGrad';

const util = tf.backend_util;

/** WGSL `fn ${name}(a : ${type}) -> ${type}`: erf as tfjs-webgpu computes it, of an f32 or (componentwise) a vec4. */
export const erfCode = (name: string, type: 'f32' | 'vec4<f32>'): string => `
fn ${name}(a : ${type}) -> ${type} {
  let t = 1.0 / (1.0 + ${util.ERF_P} * abs(a));
  let poly = ((((${util.ERF_A5} * t + ${util.ERF_A4}) * t + ${util.ERF_A3}) * t + ${util.ERF_A2}) * t + ${util.ERF_A1}) * t;
  return sign(a) * (1.0 - poly * exp(-a * a));
}
`;

/**
 * GELU(v) as McevalGelu writes it, erf by the WGSL function `erf`: a product that reads GELU of its input as it loads it
 * (low-rank-product-wgsl.ts) uses the same expression, so it reads the values this kernel would write.
 */
export const geluValue = (v: string, erf = 'erf'): string => `${v} * 0.5 * (${erf}(${v} * ${Math.SQRT1_2}) + 1.0)`;

/** dy·GELU′(v) as McevalGeluGrad writes it (a product writing GELU's gradient where it would write dx uses it too). */
export const geluGradientLines = (result: string, dy: string, v: string, erf = 'erf'): string =>
  `let density = exp(-0.5 * ${v} * ${v}) * ${1 / Math.sqrt(2 * Math.PI)};
    ${result} = ${dy} * (0.5 * (1.0 + ${erf}(${v} * ${Math.SQRT1_2})) + ${v} * density);`;

const ERF = erfCode('erf', 'f32');

const FORWARD = `${ERF}
fn main() {
  let i = ${ELEMENT_INDEX(ELEMENTWISE_WORKGROUP)};
  if (i < uniforms.count) {
    let v = x[i];
    result[i] = ${geluValue('v')};
  }
}
`;

const BACKWARD = `${ERF}
fn main() {
  let i = ${ELEMENT_INDEX(ELEMENTWISE_WORKGROUP)};
  if (i < uniforms.count) {
    let v = x[i];
    ${geluGradientLines('result[i]', 'dy[i]', 'v')}
  }
}
`;

const forward: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  return elementwiseShader(backend as unknown as WebGpuBackendLike, GELU, [{ name: 'x' }], () => FORWARD, [x]);
};

const backward: KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as Record<'x' | 'dy', TensorInfo>;
  const names = [{ name: 'x' }, { name: 'dy' }];
  return elementwiseShader(backend as unknown as WebGpuBackendLike, GELU_GRAD, names, () => BACKWARD, [x, dy]);
};

export function webGpuGeluKernels(): KernelConfig[] {
  return [
    { kernelName: GELU, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: GELU_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
