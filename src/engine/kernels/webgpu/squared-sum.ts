/**
 * `McevalSquaredSum` on webgpu: Σ x² over tensors already joined into flat groups (ops/squared-norm.ts joins a list of
 * gradients by copies, in groups of a bounded size), finished as the sum itself, its root (a global gradient norm),
 * or the root and clip_grad_norm_'s coefficient min(1, max / (‖g‖ + 1e-6)). One dispatch per group: each but the last
 * writes its group's sum to a slot of its own, and the last adds those in group order to its own and finishes. As tfjs
 * ops a step's clipping was six dispatches for a LoRA adapter's gradients (a square and a sum per group, then a root,
 * an addition, a quotient and a minimum). One workgroup sums strided slices, then a tree, as tfjs's own full
 * reductions do.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  floatUniform,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  workgroupSumCode,
  type WebGpuBackendLike,
} from './shader.js';

export const SQUARED_SUM = 'McevalSquaredSum';

/**
 * What the last dispatch writes: `sum` [Σ x²], `norm` [‖x‖], or `clip` ‖x‖ and, into the second output, the
 * coefficient for a largest norm `maxNorm`.
 */
export interface SquaredSumAttrs {
  readonly finish: 'sum' | 'norm' | 'clip';
  readonly maxNorm?: number;
}

const WORKGROUP = 256;

/**
 * The group's sum into result[uniforms.slot]; with `finish`, the earlier groups' slots (`readsSlots`) added first in
 * order, then finished.
 */
function code(vectorized: boolean, finish: SquaredSumAttrs['finish'] | undefined, readsSlots: boolean): string {
  const square = vectorized ? 'dot(v, v)' : 'v * v';
  const finished = {
    sum: 'result[0] = total;',
    norm: 'result[0] = sqrt(total);',
    clip: `let norm = sqrt(total);
    result[0] = norm;
    coefficient[0] = min(1.0, uniforms.maxNorm / (norm + 1e-6));`,
  };
  const last =
    finish === undefined
      ? 'result[uniforms.slot] = sum;'
      : `var total = 0.0;${
          readsSlots
            ? `
    for (var g = 0; g < uniforms.slot; g++) {
      total += slots[g];
    }`
            : ''
        }
    total += sum;
    ${finished[finish]}`;
  return `${workgroupSumCode('f32', WORKGROUP)}
fn main() {
  var acc = 0.0;
  for (var i = i32(localIndex); i < uniforms.size; i += ${WORKGROUP}) {
    let v = x[i];
    acc += ${square};
  }
  let sum = workgroupSum(acc);
  if (localIndex == 0u) {
    ${last}
  }
}
`;
}

/**
 * Inputs: x0, x1, … (the groups, flat); output: [Σ x²] or [‖x‖] (`finish` sum or norm), or [‖x‖] and [coefficient]
 * (clip), each of shape [].
 */
const squaredSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const gpu = backend as unknown as WebGpuBackendLike;
  const { finish, maxNorm = 0 } = attrs as unknown as SquaredSumAttrs;
  const groups = Object.keys(inputs).map((_, g) => (inputs as Record<string, TensorInfo>)[`x${g}`]!);
  const slots = groups.length > 1 ? gpu.makeTensorInfo([groups.length - 1], 'float32') : undefined;
  const coefficient = finish === 'clip' ? gpu.makeTensorInfo([], 'float32') : undefined;
  const run = (x: TensorInfo, slot: number, last: boolean) => {
    const vectorized = sizeOf(x) % 4 === 0;
    const reads = last && slots !== undefined;
    return runShader(
      gpu,
      {
        key: `McevalSquaredSum_${Number(vectorized)}_${last ? `${finish}_${Number(reads)}` : 'slot'}`,
        inputs: [
          { name: 'x', components: vectorized ? 4 : 1 },
          ...(reads ? [{ name: 'slots', components: 1 as const }] : []),
          ...(last && coefficient !== undefined
            ? [{ name: 'coefficient', components: 1 as const, writable: true }]
            : []),
        ],
        uniforms: 'size : i32, slot : i32, maxNorm : f32,',
        workgroupSize: WORKGROUP,
        dispatch: [1, 1],
        outputSize: last ? 1 : groups.length - 1,
        code: () => code(vectorized, last ? finish : undefined, reads),
      },
      [x, ...(reads ? [slots!] : []), ...(last && coefficient !== undefined ? [coefficient] : [])],
      [intUniform(sizeOf(x) / (vectorized ? 4 : 1)), intUniform(slot), floatUniform(maxNorm)],
      last ? undefined : slots,
    );
  };
  groups.slice(0, -1).forEach((x, g) => run(x, g, false));
  const result = run(groups.at(-1)!, groups.length - 1, true);
  if (slots !== undefined) gpu.disposeData(slots.dataId);
  const scalar = shaped(result, []);
  return coefficient === undefined ? scalar : [scalar, coefficient];
};

export function webGpuSquaredSumKernel(): KernelConfig {
  return { kernelName: SQUARED_SUM, backendName: 'webgpu', kernelFunc: squaredSum };
}
