/**
 * `McevalRegularizerLog` on webgpu: what a MonteCLoRA step logs (peft/monteclora/layer.ts's REGULARIZER_LOG_KEYS) in
 * one dispatch — the regulariser's terms [4] divided by the number of layers, then ‖P‖ / ‖A‖ over every layer's
 * perturbation P and mean A, from the sums of squares the perturbed factors' kernels wrote in parts (one pair per
 * workgroup of theirs: perturbed-factors.ts). As tfjs ops that was ten dispatches a step: a concatenation, a square
 * and a sum per norm, then a quotient, a root and a join. Not differentiable (a diagnostic). One workgroup sums strided
 * slices of the parts, then a tree, as tfjs's own full reductions do.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { intUniform, runShader, sizeOf, workgroupSumCode, type WebGpuBackendLike } from './shader.js';

export const REGULARIZER_LOG = 'McevalRegularizerLog';

/** Attributes: the number of layers the terms are summed over. */
export interface RegularizerLogAttrs {
  readonly layers: number;
}

const WORKGROUP = 256;

const CODE = `${workgroupSumCode('vec2<f32>', WORKGROUP)}
fn main() {
  let t = i32(localIndex);
  var acc = vec2<f32>(0.0);
  for (var i = t; i < uniforms.parts; i += ${WORKGROUP}) {
    acc += vec2<f32>(squares[2 * i], squares[2 * i + 1]);
  }
  let norms = workgroupSum(acc);
  if (t == 0) {
    for (var k = 0; k < 4; k++) {
      result[k] = terms[k] / f32(uniforms.layers);
    }
    result[4] = sqrt(norms.x / norms.y);
  }
}
`;

/** Inputs: terms [4] and squares [parts, 2] (Σ P², Σ A² of each part); output [5]. */
const regularizerLog: KernelFunc = ({ inputs, backend, attrs }) => {
  const { terms, squares } = inputs as { terms: TensorInfo; squares: TensorInfo };
  return runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: 'McevalRegularizerLog',
      inputs: [
        { name: 'terms', components: 1 },
        { name: 'squares', components: 1 },
      ],
      uniforms: 'layers : i32, parts : i32,',
      workgroupSize: WORKGROUP,
      dispatch: [1, 1],
      outputSize: 5,
      code: () => CODE,
    },
    [terms, squares],
    [intUniform((attrs as unknown as RegularizerLogAttrs).layers), intUniform(sizeOf(squares) / 2)],
  );
};

export function webGpuRegularizerLogKernel(): KernelConfig {
  return { kernelName: REGULARIZER_LOG, backendName: 'webgpu', kernelFunc: regularizerLog };
}
