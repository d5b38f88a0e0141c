/**
 * `Unpack` (tf.unstack) on webgpu in a few dispatches. tfjs-webgpu runs one Slice dispatch per output, and a
 * MonteCLoRA step unstacks its group's draws and, through tf.stack's gradient, its per-layer priors' gradients: a
 * hundred slices a step on a small model. Here one shader writes as many outputs as the device lets a shader bind
 * (the result and writable inputs, shader.ts), so 35 rows take three dispatches where the adapter binds 16 storage
 * buffers and five where it binds the minimum, 8. Where each part is a contiguous block of the input (every axis before
 * the cut one has size 1) the parts are buffer copies instead (buffer-copies.ts): none of these dispatches.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  intUniform,
  runShader,
  shaped,
  storageBuffersPerShader,
  type WebGpuBackendLike,
} from './shader.js';
import { cutByCopies } from './buffer-copies.js';

const WORKGROUP = 256;

/** Output k's element e is input[(e / inner · count + first + k) · inner + e % inner]. */
function code(outputs: number): string {
  const names = Array.from({ length: outputs }, (_, k) => (k === 0 ? 'result' : `part${k}`));
  return `
fn main() {
  let e = ${ELEMENT_INDEX(WORKGROUP)};
  if (e < uniforms.partSize) {
    let base = (e / uniforms.inner * uniforms.count + uniforms.first) * uniforms.inner + e % uniforms.inner;
    ${names.map((name, k) => `${name}[e] = value[base + ${k} * uniforms.inner];`).join('\n    ')}
  }
}
`;
}

/** Storage buffers a shader may bind, less the input. */
function outputsPerDispatch(backend: WebGpuBackendLike): number {
  return Math.max(1, storageBuffersPerShader(backend) - 1);
}

const unpack: KernelFunc = ({ inputs, backend, attrs }) => {
  const { value } = inputs as { value: TensorInfo };
  const gpu = backend as unknown as WebGpuBackendLike;
  const rank = value.shape.length;
  const axis = ((attrs as unknown as { axis: number }).axis + rank) % rank;
  const copied = cutByCopies(gpu, value, axis);
  if (copied !== undefined) return copied;
  const count = value.shape[axis]!;
  const inner = value.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const partShape = value.shape.filter((_, d) => d !== axis);
  const partSize = partShape.reduce((a, b) => a * b, 1);
  const perDispatch = outputsPerDispatch(gpu);
  const parts: TensorInfo[] = [];
  for (let first = 0; first < count; first += perDispatch) {
    const outputs = Math.min(perDispatch, count - first);
    const written = Array.from({ length: outputs - 1 }, () => gpu.makeTensorInfo([partSize], 'float32'));
    const result = runShader(
      gpu,
      {
        key: `McevalUnpack_${outputs}`,
        inputs: [
          { name: 'value', components: 1 },
          ...written.map((_, k) => ({ name: `part${k + 1}`, components: 1 as const, writable: true })),
        ],
        uniforms: 'partSize : i32, inner : i32, count : i32, first : i32,',
        workgroupSize: WORKGROUP,
        dispatch: elementwiseDispatch(partSize, WORKGROUP),
        outputSize: partSize,
        code: () => code(outputs),
      },
      [value, ...written],
      [partSize, inner, count, first].map(intUniform),
    );
    parts.push(result, ...written);
  }
  return parts.map((part) => shaped(part, partShape));
};

/** For float32 tensors; other dtypes go to `fallback` (tfjs's own kernel). */
export function webGpuUnpackKernel(fallback: () => KernelFunc | undefined): KernelConfig {
  return {
    kernelName: 'Unpack',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const { value } = args.inputs as { value: TensorInfo };
      if (value.dtype === 'float32') return unpack(args);
      const own = fallback();
      if (own === undefined) throw new Error(`no webgpu Unpack kernel for ${value.dtype}`);
      return own(args);
    },
  };
}
