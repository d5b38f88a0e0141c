/**
 * `McevalRowsBack` on webgpu: the gradient of picking distinct rows of a matrix (engine/ops/gather-rows.ts) — each
 * upstream row put back in its place, zeros elsewhere — as one elementwise dispatch: output row j is dy's row
 * source[j] where that is one of dy's rows, else zeros. tfjs's ops took two, a pad that appends a zero row to dy and a
 * gather from it, with a [rows + 1, hidden] tensor between; the values are the same (copies and zeros).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ELEMENT_INDEX, elementwiseDispatch, intUniform, runShader, scalarInputs, shaped } from './shader.js';
import type { WebGpuBackendLike } from './shader.js';
import { ELEMENTWISE_WORKGROUP } from './elementwise.js';

export const ROWS_BACK = 'McevalRowsBack';

const CODE = `
fn main() {
  let index = ${ELEMENT_INDEX(ELEMENTWISE_WORKGROUP)};
  if (index < uniforms.count) {
    let picked = source[index / uniforms.columns];
    var value = 0.0;
    if (picked >= 0 && picked < uniforms.rows) {
      value = dy[picked * uniforms.columns + index % uniforms.columns];
    }
    result[index] = value;
  }
}
`;

/** Inputs: dy [rows, columns], source [size] (int32: dy's row for each output row, or rows for none); [size, columns]. */
const rowsBack: KernelFunc = ({ inputs, backend }) => {
  const { dy, source } = inputs as Record<'dy' | 'source', TensorInfo>;
  const [rows, columns] = dy.shape as [number, number];
  const count = source.shape[0]! * columns;
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: ROWS_BACK,
      inputs: scalarInputs(['dy', 'source']),
      uniforms: 'count : i32, rows : i32, columns : i32,',
      workgroupSize: ELEMENTWISE_WORKGROUP,
      dispatch: elementwiseDispatch(count, ELEMENTWISE_WORKGROUP),
      outputSize: count,
      code: () => CODE,
    },
    [dy, source],
    [intUniform(count), intUniform(rows), intUniform(columns)],
  );
  return shaped(output, [source.shape[0]!, columns]);
};

export function webGpuRowsBackKernel(): KernelConfig {
  return { kernelName: ROWS_BACK, backendName: 'webgpu', kernelFunc: rowsBack };
}
