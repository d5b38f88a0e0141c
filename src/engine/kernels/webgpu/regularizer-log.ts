/**
 * `McevalRegularizerLog` on webgpu: what a MonteCLoRA step logs (peft/monteclora/layer.ts's REGULARIZER_LOG_KEYS) in
 * one dispatch — the regulariser's terms [4] divided by the number of layers, then ‖P‖ / ‖A‖ over every layer's
 * perturbation P and mean A, read from the group draw's stacks (one per input width). As tfjs ops that was ten
 * dispatches a step: a concatenation, a square and a sum per norm, then a quotient, a root and a join. Not
 * differentiable (a diagnostic). One workgroup sums strided slices, then a tree, as tfjs's own full reductions do.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../../tf.js';
import { hasKernel } from '../has-kernel.js';
import {
  intUniform,
  runShader,
  sizeOf,
  storageBuffersPerShader,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';

export const REGULARIZER_LOG = 'McevalRegularizerLog';

/** Attributes: the number of layers the terms are summed over. */
export interface RegularizerLogAttrs {
  readonly layers: number;
}

const WORKGROUP = 256;

/** Whether the backend has the kernel and one shader may bind the terms, `stacks` P and A stacks, and the result. */
export function regularizerLogKernel(stacks: number): boolean {
  if (!hasKernel(REGULARIZER_LOG)) return false;
  return 2 * stacks + 2 <= storageBuffersPerShader(tf.backend() as unknown as WebGpuBackendLike);
}

function code(stacks: number): string {
  const sums = (name: string, component: 'x' | 'y') =>
    Array.from(
      { length: stacks },
      (_, k) => `
  for (var i = t; i < uniforms.size${k}; i += ${WORKGROUP}) {
    let v = ${name}${k}[i];
    acc.${component} += v * v;
  }`,
    ).join('');
  return `${workgroupSumCode('vec2<f32>', WORKGROUP)}
fn main() {
  let t = i32(localIndex);
  var acc = vec2<f32>(0.0);${sums('perturbation', 'x')}${sums('mean', 'y')}
  let norms = workgroupSum(acc);
  if (t == 0) {
    for (var k = 0; k < 4; k++) {
      result[k] = terms[k] / f32(uniforms.layers);
    }
    result[4] = sqrt(norms.x / norms.y);
  }
}
`;
}

/** Inputs: terms [4], perturbation0 … and mean0 … (stack k's P and A, the same size); output [5]. */
const regularizerLog: KernelFunc = ({ inputs, backend, attrs }) => {
  const named = inputs as Record<string, TensorInfo>;
  const stacks = Object.keys(named).filter((name) => name.startsWith('perturbation')).length;
  const names = [
    'terms',
    ...Array.from({ length: stacks }, (_, k) => `perturbation${k}`),
    ...Array.from({ length: stacks }, (_, k) => `mean${k}`),
  ];
  return runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: `McevalRegularizerLog_${stacks}`,
      inputs: names.map((name) => ({ name, components: 1 })),
      uniforms: ['layers : i32,', ...Array.from({ length: stacks }, (_, k) => `size${k} : i32,`)].join(' '),
      workgroupSize: WORKGROUP,
      dispatch: [1, 1],
      outputSize: 5,
      code: () => code(stacks),
    },
    names.map((name) => named[name]!),
    [
      intUniform((attrs as unknown as RegularizerLogAttrs).layers),
      ...Array.from({ length: stacks }, (_, k) => intUniform(sizeOf(named[`mean${k}`]!))),
    ],
  );
};

export function webGpuRegularizerLogKernel(): KernelConfig {
  return { kernelName: REGULARIZER_LOG, backendName: 'webgpu', kernelFunc: regularizerLog };
}
