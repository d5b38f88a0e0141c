/**
 * A product scaled per output column by a learned magnitude over a detached norm (DoRA), on webgpu:
 * `McevalMagnitudeScale` forms y = addend + z ⊙ (m / n − offset) elementwise (z [rows, out], m and n [out], the addend
 * optional), one dispatch where tfjs's ops took a quotient, a difference, a product and a sum; `McevalMagnitudeScaleGrad`
 * forms both gradients in one — dz = dy ⊙ (m / n − offset) and dm = Σ_rows dy ⊙ z / n — where tfjs's took two products,
 * a transposition and a reduction for the column sums, and a quotient. The gradient's invocations each walk a strided
 * slice of one column's rows (column-lanes.ts), writing dz as they go; a workgroup adds its slices in a fixed order.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  floatUniform,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  type WebGpuBackendLike,
} from './shader.js';
import { ELEMENTWISE_WORKGROUP } from './elementwise.js';
import { COLUMN_LANES_CODE, COLUMN_WORKGROUP, LANES, columnWorkgroups } from './column-lanes.js';

export const MAGNITUDE_SCALE = 'McevalMagnitudeScale';
export const MAGNITUDE_SCALE_GRAD = 'McevalMagnitudeScaleGrad';

/** Attributes: what is taken from the scale m / n (DoRA under dropout scales by c − 1). */
export interface MagnitudeScaleAttrs {
  readonly offset: number;
}

const forwardCode = (addend: boolean) => `
fn main() {
  let index = ${ELEMENT_INDEX(ELEMENTWISE_WORKGROUP)};
  if (index < uniforms.count) {
    let j = index % uniforms.columns;
    result[index] = ${addend ? 'addend[index] + ' : ''}z[index] * (m[j] / n[j] - uniforms.offset);
  }
}
`;

const GRADIENT_CODE = `${COLUMN_LANES_CODE}
fn main() {
  let at = columnLane(0);
  var sum = 0.0;
  if (at.j < uniforms.columns) {
    let factor = m[at.j] / n[at.j] - uniforms.offset;
    for (var i = at.lane; i < uniforms.rows; i += ${LANES}) {
      let index = i * uniforms.columns + at.j;
      result[index] = dy[index] * factor;
      sum += dy[index] * z[index];
    }
  }
  let total = columnSum(sum, at.column);
  if (at.lane == 0 && at.j < uniforms.columns) {
    dm[at.j] = total / n[at.j];
  }
}
`;

const columnsOf = (z: TensorInfo) => z.shape.at(-1)!;
const offsetOf = (attrs: unknown) => (attrs as MagnitudeScaleAttrs).offset;

/** Inputs: z, m, n, and optionally addend (shaped like z); output shaped like z. */
const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { z, m, n, addend } = inputs as Record<'z' | 'm' | 'n', TensorInfo> & { addend?: TensorInfo };
  const count = sizeOf(z);
  const given = addend === undefined ? [z, m, n] : [z, m, n, addend];
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: `McevalMagnitudeScale${addend === undefined ? '' : 'Plus'}`,
      inputs: ['z', 'm', 'n', 'addend'].slice(0, given.length).map((name) => ({ name, components: 1 as const })),
      uniforms: 'count : i32, columns : i32, offset : f32,',
      workgroupSize: ELEMENTWISE_WORKGROUP,
      dispatch: elementwiseDispatch(count, ELEMENTWISE_WORKGROUP),
      outputSize: count,
      code: () => forwardCode(addend !== undefined),
    },
    given,
    [intUniform(count), intUniform(columnsOf(z)), floatUniform(offsetOf(attrs))],
  );
  return shaped(output, [...z.shape]);
};

/** Inputs: dy, z (the same shape), m, n; outputs [dz, dm]. */
const gradient: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, z, m, n } = inputs as Record<'dy' | 'z' | 'm' | 'n', TensorInfo>;
  const gpu = backend as unknown as WebGpuBackendLike;
  const columns = columnsOf(z);
  const rows = sizeOf(z) / columns;
  const dm = gpu.makeTensorInfo([columns], 'float32');
  const names = [{ name: 'dy' }, { name: 'z' }, { name: 'm' }, { name: 'n' }, { name: 'dm', writable: true }];
  const dz = runShader(
    gpu,
    {
      key: 'McevalMagnitudeScaleGrad',
      inputs: names.map((input) => ({ ...input, components: 1 as const })),
      uniforms: 'rows : i32, columns : i32, offset : f32,',
      workgroupSize: COLUMN_WORKGROUP,
      dispatch: columnWorkgroups(columns),
      outputSize: rows * columns,
      code: () => GRADIENT_CODE,
    },
    [dy, z, m, n, dm],
    [intUniform(rows), intUniform(columns), floatUniform(offsetOf(attrs))],
  );
  return [shaped(dz, [...z.shape]), dm];
};

export function webGpuMagnitudeScaleKernels(): KernelConfig[] {
  return [
    { kernelName: MAGNITUDE_SCALE, backendName: 'webgpu', kernelFunc: forward },
    { kernelName: MAGNITUDE_SCALE_GRAD, backendName: 'webgpu', kernelFunc: gradient },
  ];
}
