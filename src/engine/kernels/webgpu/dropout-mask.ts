/**
 * `McevalDropoutMask` on webgpu: an inverted-dropout mask made on the device by the counter-based hash of
 * engine/counter-hash.ts — element i is `value` when triple32(triple32(i) ^ key) < threshold, else 0 — the same mask
 * the host makes for cpu and wasm, bit for bit, with nothing uploaded (a host-made mask is as large as the layer's
 * input, for every adapted layer and step). Attributes give the shape, the key, the threshold and value. Given an
 * input x, it writes x times the mask instead (the same products as tfjs's Mul by the mask, without the mask): an
 * encoder's hidden dropout, and its gradient, which is dy dropped by the same mask.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { HASHED_KEEP_WGSL, dropoutAt, dropoutUniformValues, dropoutUniforms } from './hashed-dropout-wgsl.js';
import { ELEMENT_INDEX, elementwiseDispatch, intUniform, runShader, shaped, type WebGpuBackendLike } from './shader.js';

export const DROPOUT_MASK = 'McevalDropoutMask';

export interface DropoutMaskAttrs {
  readonly shape: number[];
  /** u32. */
  readonly key: number;
  /** u32, below 2³². */
  readonly threshold: number;
  readonly value: number;
}

const WORKGROUP = 256;

/** The mask, or with `times` x times it. */
const code = (times: boolean) => `
${HASHED_KEEP_WGSL}
fn main() {
  let i = ${ELEMENT_INDEX(WORKGROUP)};
  if (i < uniforms.count) {
    result[i] = ${times ? 'x[i] * ' : ''}${dropoutAt('mask', 'i')};
  }
}
`;

const dropoutMask: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x?: TensorInfo };
  const { shape, key, threshold, value } = attrs as unknown as DropoutMaskAttrs;
  const count = shape.reduce((a, b) => a * b, 1);
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: x === undefined ? 'McevalDropoutMask' : 'McevalDropoutMaskTimes',
      inputs: x === undefined ? [] : [{ name: 'x', components: 1 }],
      uniforms: `count : i32, ${dropoutUniforms('mask')}`,
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(count, WORKGROUP),
      outputSize: count,
      code: () => code(x !== undefined),
    },
    x === undefined ? [] : [x],
    [intUniform(count), ...dropoutUniformValues({ key, threshold, scale: value })],
  );
  return shaped(output, [...shape]);
};

export function webGpuDropoutMaskKernel(): KernelConfig {
  return { kernelName: DROPOUT_MASK, backendName: 'webgpu', kernelFunc: dropoutMask };
}
