/**
 * Rotary position embeddings on webgpu as one elementwise kernel, `McevalRope`: x·cos + rotate_half(x)·sin for x
 * [batch, length, heads, headDim] and tables [batch, length, 1, headDim] (models/layers/rope.ts), or with `backward`
 * its gradient dy·cos − rotate_half(dy·sin)ᵀ. rotate_half(v)[i] is −v[i + h] for i < h and v[i − h] above (h = headDim
 * / 2), so the gradient's second term is +dy[i + h]·sin[i + h] below h and −dy[i − h]·sin[i − h] above. In tfjs ops
 * each direction is four dispatches (two products, the rotation as a matrix product, a sum). Given a second tensor
 * `x2` (a layer's keys beside its queries), both are rotated in the same dispatch, and the kernel has two outputs.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  type WebGpuBackendLike,
} from './shader.js';

export const ROPE = 'McevalRope';

export interface RopeAttrs {
  readonly backward: boolean;
}

const WORKGROUP = 256;

/**
 * WGSL for `fn ${name}(e : i32) -> f32`: element e of `x` (flat [batch, length, heads, headDim], `heads` a uniform's
 * name) rotated, or with `backward` the gradient term for dy = x.
 */
export function rotationCode(name: string, x: string, heads: string, backward: boolean): string {
  const below = backward ? `${x}[e + h] * sin[t + h]` : `-${x}[e + h] * sin[t]`;
  const above = backward ? `-${x}[e - h] * sin[t - h]` : `${x}[e - h] * sin[t]`;
  return `
fn ${name}(e : i32) -> f32 {
  let d = e % uniforms.headDim;
  let h = uniforms.headDim / 2;
  // The tables' element for this row (batch and position) and d, shared by the heads.
  let t = (e / (${heads} * uniforms.headDim)) * uniforms.headDim + d;
  var rotated = 0.0;
  if (d < h) {
    rotated = ${below};
  } else {
    rotated = ${above};
  }
  return ${x}[e] * cos[t] + rotated;
}`;
}

/**
 * With `pair`, the elements of a second tensor x2 (its own head count, the same tables) follow x's in the dispatch,
 * their results written to the writable input `rotated2`: a layer's queries and keys in one dispatch.
 */
function code(backward: boolean, pair: boolean): string {
  const secondCall = pair
    ? ` else if (e < uniforms.count + uniforms.count2) {
    rotated2[e - uniforms.count] = rotatedSecond(e - uniforms.count);
  }`
    : '';
  return `${rotationCode('rotatedFirst', 'x', 'uniforms.heads', backward)}
${pair ? rotationCode('rotatedSecond', 'x2', 'uniforms.heads2', backward) : ''}

fn main() {
  let e = ${ELEMENT_INDEX(WORKGROUP)};
  if (e < uniforms.count) {
    result[e] = rotatedFirst(e);
  }${secondCall}
}
`;
}

/** The tables must hold one row per row of heads of `x`: broadcast any other way they would be read out of place. */
export function checkTables(x: TensorInfo, cos: TensorInfo): void {
  const count = sizeOf(x);
  const [heads, headDim] = x.shape.slice(-2) as [number, number];
  if (sizeOf(cos) * heads !== count || cos.shape.at(-1) !== headDim) {
    throw new Error(`McevalRope: tables [${cos.shape}] do not match x [${x.shape}] row for row`);
  }
}

/** McevalRope's kernel function (McevalRopeAppend also rotates queries by it where its own dispatch cannot bind them). */
export const ropeOnWebGpu: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, x2, cos, sin } = inputs as Record<'x' | 'cos' | 'sin', TensorInfo> & { x2?: TensorInfo };
  const { backward } = attrs as unknown as RopeAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const [count, count2] = [sizeOf(x), x2 === undefined ? 0 : sizeOf(x2)];
  const [heads, headDim] = x.shape.slice(-2) as [number, number];
  checkTables(x, cos);
  if (x2 !== undefined) {
    checkTables(x2, cos);
    if (x2.shape.at(-1) !== headDim) throw new Error(`McevalRope: x2 [${x2.shape}] has another head size than x`);
  }
  const rotated2 = x2 === undefined ? undefined : gpu.makeTensorInfo([count2], 'float32');
  const output = runShader(
    gpu,
    {
      key: `McevalRope_${Number(backward)}${Number(x2 !== undefined)}`,
      inputs: [
        ...['x', 'cos', 'sin'].map((name) => ({ name, components: 1 as const })),
        ...(x2 === undefined
          ? []
          : [
              { name: 'x2', components: 1 as const },
              { name: 'rotated2', components: 1 as const, writable: true },
            ]),
      ],
      uniforms: 'count : i32, heads : i32, headDim : i32, count2 : i32, heads2 : i32,',
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(count + count2, WORKGROUP),
      outputSize: count,
      code: () => code(backward, x2 !== undefined),
    },
    [x, cos, sin, ...(x2 === undefined ? [] : [x2, rotated2!])],
    [count, heads, headDim, count2, x2 === undefined ? 0 : x2.shape.at(-2)!].map(intUniform),
  );
  const first = shaped(output, [...x.shape]);
  return x2 === undefined ? first : [first, shaped(rotated2!, [...x2.shape])];
};

export function webGpuRopeKernel(): KernelConfig {
  return { kernelName: ROPE, backendName: 'webgpu', kernelFunc: ropeOnWebGpu };
}
