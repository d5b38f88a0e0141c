/**
 * Shaders that give each row of a [rows, hidden] tensor (its leading axes flattened) one workgroup — the norms:
 * invocations walk strided slices of the row and combine them with `workgroupSum` (a tree), and the output is shaped
 * like the first input. Uniforms: rows, hidden, eps.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import {
  elementwiseDispatch,
  floatUniform,
  intUniform,
  runShader,
  shaped,
  workgroupSumCode,
  type ShaderUniform,
  type WebGpuBackendLike,
} from './shader.js';

export const ROW_WORKGROUP = 64;

/** The norms' one attribute. */
export interface NormAttrs {
  readonly eps: number;
}

/** `rowIndex()`: the row this workgroup owns (one workgroup per row, over two dispatch axes beyond the limit). */
export const ROW_INDEX_CODE = `
fn rowIndex() -> i32 {
  return i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
}
`;

/** The row this workgroup owns and a workgroup sum. */
export const ROW_CODE = `${workgroupSumCode('f32', ROW_WORKGROUP)}${ROW_INDEX_CODE}`;

export const rowsOf = (x: TensorInfo) => x.shape.slice(0, -1).reduce((a, b) => a * b, 1);

/** Uniform fields after rows, hidden and eps, and their values. */
export interface MoreUniforms {
  readonly fields: string;
  readonly values: readonly ShaderUniform[];
}

/** One workgroup per row of the first tensor over `code`, writing an output shaped like it. */
export function rowShader(
  gpu: WebGpuBackendLike,
  key: string,
  names: readonly { readonly name: string; readonly writable?: true }[],
  code: () => string,
  tensors: TensorInfo[],
  eps: number,
  more: MoreUniforms = { fields: '', values: [] },
): TensorInfo {
  const x = tensors[0]!;
  const rows = rowsOf(x);
  const output = runShader(
    gpu,
    {
      key,
      inputs: names.map((input) => ({ ...input, components: 1 as const })),
      uniforms: `rows : i32, hidden : i32, eps : f32, ${more.fields}`,
      workgroupSize: ROW_WORKGROUP,
      dispatch: elementwiseDispatch(rows, 1),
      outputSize: rows * x.shape.at(-1)!,
      code,
    },
    tensors,
    [intUniform(rows), intUniform(x.shape.at(-1)!), floatUniform(eps), ...more.values],
  );
  return shaped(output, [...x.shape]);
}
