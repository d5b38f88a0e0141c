/**
 * `McevalAdaptedColumnNorms` on webgpu: the norm of each column of a low-rank-adapted weight, ‖W + s·A·B‖ per output
 * (DoRA's weight norm), in one dispatch that never forms the [in, out] matrix. As tfjs ops it was a product, a scaling,
 * a sum and the norm's own three or four dispatches per layer and step, through an [in, out] tensor. Each invocation
 * walks a strided slice of one column's rows (column-lanes.ts), forming each element as the ops did ((A·B)·s + W: the
 * rank summed in order), and a workgroup adds its slices in a fixed order. Not differentiable (DoRA detaches the norm).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { runShader, type WebGpuBackendLike } from './shader.js';
import { COLUMN_LANES_CODE, COLUMN_WORKGROUP, LANES, columnWorkgroups } from './column-lanes.js';

export const ADAPTED_COLUMN_NORMS = 'McevalAdaptedColumnNorms';

/** Attributes: s, the update's scaling. */
export interface AdaptedColumnNormsAttrs {
  readonly scale: number;
}

const CODE = `${COLUMN_LANES_CODE}
fn main() {
  let at = columnLane();
  var squares = 0.0;
  if (at.j < uniforms.columns) {
    for (var i = at.lane; i < uniforms.rows; i += ${LANES}) {
      var low = 0.0;
      for (var k = 0; k < uniforms.rank; k++) {
        low += a[i * uniforms.rank + k] * b[k * uniforms.columns + at.j];
      }
      let value = low * uniforms.scale + w[i * uniforms.columns + at.j];
      squares += value * value;
    }
  }
  let total = columnSum(squares, at.column);
  if (at.lane == 0 && at.j < uniforms.columns) {
    result[at.j] = sqrt(total);
  }
}
`;

/** Inputs: w [in, out], a [in, r], b [r, out]; output [out]. */
const adaptedColumnNorms: KernelFunc = ({ inputs, backend, attrs }) => {
  const { w, a, b } = inputs as { w: TensorInfo; a: TensorInfo; b: TensorInfo };
  const [rows, columns] = w.shape as [number, number];
  const rank = a.shape[1]!;
  return runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: 'McevalAdaptedColumnNorms',
      inputs: ['w', 'a', 'b'].map((name) => ({ name, components: 1 as const })),
      uniforms: 'rows : i32, columns : i32, rank : i32, scale : f32,',
      workgroupSize: COLUMN_WORKGROUP,
      dispatch: columnWorkgroups(columns),
      outputSize: columns,
      code: CODE,
    },
    [w, a, b],
    [
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [columns] },
      { type: 'int32', data: [rank] },
      { type: 'float32', data: [(attrs as unknown as AdaptedColumnNormsAttrs).scale] },
    ],
  );
};

export function webGpuAdaptedColumnNormsKernel(): KernelConfig {
  return { kernelName: ADAPTED_COLUMN_NORMS, backendName: 'webgpu', kernelFunc: adaptedColumnNorms };
}
