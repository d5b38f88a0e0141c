/** Shaders that compute one output element per invocation from operands of one shape (SwiGLU, GELU). */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { elementwiseDispatch, intUniform, runShader, shaped, type WebGpuBackendLike } from './shader.js';

export const ELEMENTWISE_WORKGROUP = 256;

const size = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);

/** The shaders read every operand element for element: operands broadcast any other way would be read out of place. */
function checkSameShapes(kernel: string, tensors: readonly TensorInfo[]): void {
  const shape = tensors[0]!.shape.join(',');
  if (tensors.some((t) => t.shape.join(',') !== shape)) {
    throw new Error(`${kernel}: operands [${tensors.map((t) => t.shape.join(', ')).join('], [')}] differ in shape`);
  }
}

/** `code` over every element of the operands (uniform: count), its output shaped like the first. */
export function elementwiseShader(
  gpu: WebGpuBackendLike,
  key: string,
  names: readonly { readonly name: string; readonly writable?: boolean }[],
  code: () => string,
  tensors: TensorInfo[],
): TensorInfo {
  checkSameShapes(key, tensors);
  const count = size(tensors[0]!);
  const output = runShader(
    gpu,
    {
      key,
      inputs: names.map((input) => ({ ...input, components: 1 as const })),
      uniforms: 'count : i32,',
      workgroupSize: ELEMENTWISE_WORKGROUP,
      dispatch: elementwiseDispatch(count, ELEMENTWISE_WORKGROUP),
      outputSize: count,
      code,
    },
    tensors,
    [intUniform(count)],
  );
  return shaped(output, [...tensors[0]!.shape]);
}
