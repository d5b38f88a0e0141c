/**
 * `Concat` and `Pack` (tf.concat, tf.stack) on webgpu: a join whose inputs are whole blocks of the result (a stack
 * along the first axis, a concatenation of flattened tensors) by buffer copies (buffer-copies.ts); any other join, and
 * any the copies cannot take, by tfjs-webgpu's own kernels, which also check the shapes.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf.js';
import { joinedByCopies } from './buffer-copies.js';
import type { WebGpuBackendLike } from './shader.js';

/** Whether the inputs agree on every axis but `axis` (else tfjs's kernel names the mismatch). */
const consistent = (inputs: readonly TensorInfo[], axis: number) =>
  inputs.every(
    (input) =>
      input.shape.length === inputs[0]!.shape.length &&
      input.shape.every((size, d) => d === axis || size === inputs[0]!.shape[d]),
  );

/** The joined tensor of `inputs` along `axis`, where the copies take it. */
function concatByCopies(backend: WebGpuBackendLike, inputs: readonly TensorInfo[], axis: number) {
  if (!consistent(inputs, axis)) return undefined;
  const total = inputs.reduce((sum, input) => sum + input.shape[axis]!, 0);
  const outShape = inputs[0]!.shape.map((size, d) => (d === axis ? total : size));
  return joinedByCopies(backend, inputs, axis, outShape);
}

/** Pack's inputs as one along a new axis `axis`: each given that axis (size 1), then joined. */
function packByCopies(backend: WebGpuBackendLike, inputs: readonly TensorInfo[], axis: number) {
  const widened = inputs.map((input) => ({
    ...input,
    shape: [...input.shape.slice(0, axis), 1, ...input.shape.slice(axis)],
  }));
  return concatByCopies(backend, widened, axis);
}

function joinKernel(
  kernelName: 'Concat' | 'Pack',
  byCopies: typeof concatByCopies,
  fallback: () => KernelFunc | undefined,
): KernelConfig {
  return {
    kernelName,
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const inputs = args.inputs as unknown as TensorInfo[];
      const first = inputs[0];
      if (first !== undefined) {
        // Pack's axis counts the new one: the inputs' rank + 1 axes.
        const shape = kernelName === 'Pack' ? [...first.shape, 1] : first.shape;
        const { axis } = args.attrs as unknown as { axis: number | number[] };
        if (shape.length > 0) {
          const joined = byCopies(
            args.backend as unknown as WebGpuBackendLike,
            inputs,
            tf.util.parseAxisParam(axis, shape)[0]!,
          );
          if (joined !== undefined) return joined;
        }
      }
      const own = fallback();
      if (own === undefined) throw new Error(`no webgpu ${kernelName} kernel`);
      return own(args);
    },
  };
}

export function webGpuJoinKernels(fallback: (kernelName: string) => KernelFunc | undefined): KernelConfig[] {
  return [
    joinKernel('Concat', concatByCopies, () => fallback('Concat')),
    joinKernel('Pack', packByCopies, () => fallback('Pack')),
  ];
}
