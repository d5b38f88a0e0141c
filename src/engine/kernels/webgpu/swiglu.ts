/**
 * SwiGLU's gating on webgpu as two elementwise kernels: `McevalSwiGlu` (gate, up → silu(gate)·up) and
 * `McevalSwiGluGrad` (gate, up, dy → dGate = dy·up·silu′(gate) as its output and dUp = dy·silu(gate) into a second,
 * writable buffer), with silu(g) = g·σ(g) and silu′(g) = σ(g)·(1 + g·(1 − σ(g))). models/layers/swiglu.ts uses them
 * where registered; in tfjs ops the forward is three dispatches and the gradient nine, each reading and writing
 * [tokens, intermediate] tensors, for every layer.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ELEMENT_INDEX, type WebGpuBackendLike } from './shader.js';
import { ELEMENTWISE_WORKGROUP as WORKGROUP, elementwiseShader } from './elementwise.js';

export const SWIGLU = 'McevalSwiGlu';
export const SWIGLU_GRAD = 'McevalSwiGluGrad';

/** WGSL `fn ${name}(g : ${type}) -> ${type}`: σ as tfjs-webgpu's Sigmoid computes it, of an f32 or a vec4<f32>. */
export const sigmoidCode = (name: string, type: 'f32' | 'vec4<f32>'): string => `
fn ${name}(g : ${type}) -> ${type} {
  return 1.0 / (1.0 + exp(-1.0 * g));
}
`;

/**
 * silu(g)·u as McevalSwiGlu writes it, σ by the WGSL function `sigmoid`: a product that reads the gating as it loads
 * its input (low-rank-product-wgsl.ts) uses the same expression, so it reads the values this kernel would write.
 */
export const gatedValue = (g: string, u: string, sigmoid = 'sigmoid'): string => `${g} * ${sigmoid}(${g}) * ${u}`;

const SIGMOID = sigmoidCode('sigmoid', 'f32');

const FORWARD = `${SIGMOID}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let g = gate[i];
    result[i] = ${gatedValue('g', 'up[i]')};
  }
}
`;

const BACKWARD = `${SIGMOID}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    let g = gate[i];
    let s = sigmoid(g);
    result[i] = dy[i] * up[i] * (s * (1.0 + g * (1.0 - s)));
    dUp[i] = dy[i] * (g * s);
  }
}
`;

const forward: KernelFunc = ({ inputs, backend }) => {
  const { gate, up } = inputs as Record<'gate' | 'up', TensorInfo>;
  const names = [{ name: 'gate' }, { name: 'up' }];
  return elementwiseShader(backend as unknown as WebGpuBackendLike, SWIGLU, names, () => FORWARD, [gate, up]);
};

const backward: KernelFunc = ({ inputs, backend }) => {
  const { gate, up, dy } = inputs as Record<'gate' | 'up' | 'dy', TensorInfo>;
  const gpu = backend as unknown as WebGpuBackendLike;
  const dUp = gpu.makeTensorInfo([...up.shape], 'float32');
  const names = [{ name: 'gate' }, { name: 'up' }, { name: 'dy' }, { name: 'dUp', writable: true }];
  const dGate = elementwiseShader(gpu, SWIGLU_GRAD, names, () => BACKWARD, [gate, up, dy, dUp]);
  return [dGate, dUp];
};

export function webGpuSwiGluKernels(): KernelConfig[] {
  return [
    { kernelName: SWIGLU, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: SWIGLU_GRAD, backendName: 'webgpu', kernelFunc: backward },
  ];
}
