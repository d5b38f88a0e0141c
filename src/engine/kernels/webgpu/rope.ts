/**
 * Rotary position embeddings on webgpu as one elementwise kernel, `McevalRope`: x·cos + rotate_half(x)·sin for x
 * [batch, length, heads, headDim] and tables [batch, length, 1, headDim] (models/layers/rope.ts), or with `backward`
 * its gradient dy·cos − rotate_half(dy·sin)ᵀ. rotate_half(v)[i] is −v[i + h] for i < h and v[i − h] above (h = headDim
 * / 2), so the gradient's second term is +dy[i + h]·sin[i + h] below h and −dy[i − h]·sin[i − h] above. In tfjs ops
 * each direction is four dispatches (two products, the rotation as a matrix product, a sum).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ELEMENT_INDEX, elementwiseDispatch, runShader, shaped, type WebGpuBackendLike } from './shader.js';

export const ROPE = 'McevalRope';

export interface RopeAttrs {
  readonly backward: boolean;
}

const WORKGROUP = 256;

function code(backward: boolean): string {
  const below = backward ? 'x[e + h] * sin[t + h]' : '-x[e + h] * sin[t]';
  const above = backward ? '-x[e - h] * sin[t - h]' : 'x[e - h] * sin[t]';
  return `
fn main() {
  let e = ${ELEMENT_INDEX(WORKGROUP)};
  if (e < uniforms.count) {
    let d = e % uniforms.headDim;
    let h = uniforms.headDim / 2;
    // The tables' element for this row (batch and position) and d, shared by the heads.
    let t = (e / (uniforms.heads * uniforms.headDim)) * uniforms.headDim + d;
    var rotated = 0.0;
    if (d < h) {
      rotated = ${below};
    } else {
      rotated = ${above};
    }
    result[e] = x[e] * cos[t] + rotated;
  }
}
`;
}

const rope: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, cos, sin } = inputs as Record<'x' | 'cos' | 'sin', TensorInfo>;
  const { backward } = attrs as unknown as RopeAttrs;
  const count = x.shape.reduce((a, b) => a * b, 1);
  const [heads, headDim] = x.shape.slice(-2) as [number, number];
  // The shader reads one table row per row of heads: tables broadcast any other way would be read out of place.
  const tableSize = cos.shape.reduce((a, b) => a * b, 1);
  if (tableSize * heads !== count || cos.shape.at(-1) !== headDim) {
    throw new Error(`McevalRope: tables [${cos.shape}] do not match x [${x.shape}] row for row`);
  }
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: `McevalRope_${Number(backward)}`,
      inputs: ['x', 'cos', 'sin'].map((name) => ({ name, components: 1 as const })),
      uniforms: 'count : i32, heads : i32, headDim : i32,',
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(count, WORKGROUP),
      outputSize: count,
      code: code(backward),
    },
    [x, cos, sin],
    [count, heads, headDim].map((value) => ({ type: 'int32' as const, data: [value] })),
  );
  return shaped(output, [...x.shape]);
};

export function webGpuRopeKernel(): KernelConfig {
  return { kernelName: ROPE, backendName: 'webgpu', kernelFunc: rope };
}
