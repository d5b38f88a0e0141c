/**
 * Rotary position embeddings on webgpu as one elementwise kernel, `McevalRope`: x·cos + rotate_half(x)·sin for x
 * [batch, length, heads, headDim] and tables [batch, length, 1, headDim] (models/layers/rope.ts), or with `backward`
 * its gradient dy·cos − rotate_half(dy·sin)ᵀ. rotate_half(v)[i] is −v[i + h] for i < h and v[i − h] above (h = headDim
 * / 2), so the gradient's second term is +dy[i + h]·sin[i + h] below h and −dy[i − h]·sin[i − h] above. In tfjs ops
 * each direction is four dispatches (two products, the rotation as a matrix product, a sum). Given a second tensor
 * `x2` (a layer's keys beside its queries), both are rotated in the same dispatch, and the kernel has two outputs.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ELEMENT_INDEX, elementwiseDispatch, runShader, shaped, sizeOf, type WebGpuBackendLike } from './shader.js';

export const ROPE = 'McevalRope';

export interface RopeAttrs {
  readonly backward: boolean;
}

const WORKGROUP = 256;

/**
 * WGSL for `fn ${name}(e : i32) -> f32`: element e of `x` (flat [batch, length, heads, headDim], `heads` a uniform's
 * name) rotated, or with `backward` the gradient term for dy = x.
 */
function rotationCode(name: string, x: string, heads: string, backward: boolean): string {
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
function checkTables(x: TensorInfo, cos: TensorInfo): void {
  const count = sizeOf(x);
  const [heads, headDim] = x.shape.slice(-2) as [number, number];
  if (sizeOf(cos) * heads !== count || cos.shape.at(-1) !== headDim) {
    throw new Error(`McevalRope: tables [${cos.shape}] do not match x [${x.shape}] row for row`);
  }
}

const rope: KernelFunc = ({ inputs, backend, attrs }) => {
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
      code: code(backward, x2 !== undefined),
    },
    [x, cos, sin, ...(x2 === undefined ? [] : [x2, rotated2!])],
    [count, heads, headDim, count2, x2 === undefined ? 0 : x2.shape.at(-2)!].map((value) => ({
      type: 'int32' as const,
      data: [value],
    })),
  );
  const first = shaped(output, [...x.shape]);
  return x2 === undefined ? first : [first, shaped(rotated2!, [...x2.shape])];
};

export function webGpuRopeKernel(): KernelConfig {
  return { kernelName: ROPE, backendName: 'webgpu', kernelFunc: rope };
}

/**
 * A decoding step's RoPE and KV cache, `McevalRopeAppend`: the layer's cache extended by its new keys, rotated, and
 * new values — [batch, past + length, heads·headDim] each, the past rows copied — and, given them, its queries
 * rotated: one dispatch where RoPE and the two concatenations took three. No gradient: decoding only.
 */
export const ROPE_APPEND = 'McevalRopeAppend';

/** The storage buffers McevalRopeAppend binds, with and without the queries. */
export const ropeAppendBindings = (withQueries: boolean): number => (withQueries ? 10 : 8);

function appendCode(withQueries: boolean): string {
  const queries = withQueries
    ? ` else if (e < 2 * cache + uniforms.queryCount) {
    rotatedQueries[e - 2 * cache] = rotatedQuery(e - 2 * cache);
  }`
    : '';
  return `${rotationCode('rotatedKey', 'keys', 'uniforms.heads', false)}
${withQueries ? rotationCode('rotatedQuery', 'queries', 'uniforms.queryHeads', false) : ''}

fn main() {
  let e = ${ELEMENT_INDEX(WORKGROUP)};
  let cache = uniforms.cacheCount;
  if (e < 2 * cache) {
    // Element (b, t, j) of a cache [batch, past + length, width]: a past row's, or row t − past of the new ones.
    let c = e % cache;
    let rowLength = (uniforms.past + uniforms.length) * uniforms.width;
    let b = c / rowLength;
    let t = (c % rowLength) / uniforms.width;
    let j = c % uniforms.width;
    let earlier = (b * uniforms.past + t) * uniforms.width + j;
    let fresh = (b * uniforms.length + t - uniforms.past) * uniforms.width + j;
    if (e < cache) {
      if (t < uniforms.past) {
        result[c] = pastKeys[earlier];
      } else {
        result[c] = rotatedKey(fresh);
      }
    } else {
      if (t < uniforms.past) {
        valueCache[c] = pastValues[earlier];
      } else {
        valueCache[c] = values[fresh];
      }
    }
  }${queries}
}
`;
}

const ropeAppend: KernelFunc = ({ inputs, backend }) => {
  const { keys, values, pastKeys, pastValues, cos, sin, queries } = inputs as Record<
    'keys' | 'values' | 'pastKeys' | 'pastValues' | 'cos' | 'sin',
    TensorInfo
  > & { queries?: TensorInfo };
  const gpu = backend as unknown as WebGpuBackendLike;
  const [batch, length, heads, headDim] = keys.shape as [number, number, number, number];
  const width = heads * headDim;
  const past = pastKeys.shape[1]!;
  checkTables(keys, cos);
  const cacheShape = [batch, past + length, width];
  for (const [name, tensor, shape] of [
    ['values', values, [batch, length, width]],
    ['pastKeys', pastKeys, [batch, past, width]],
    ['pastValues', pastValues, [batch, past, width]],
  ] as const) {
    if (tensor.shape.join() !== shape.join()) {
      throw new Error(`McevalRopeAppend: ${name} [${tensor.shape}] is not [${shape}] beside keys [${keys.shape}]`);
    }
  }
  if (queries !== undefined) {
    checkTables(queries, cos);
    if (queries.shape.at(-1) !== headDim)
      throw new Error(`McevalRopeAppend: queries [${queries.shape}] differ in head size`);
  }
  const cacheCount = batch * (past + length) * width;
  const queryCount = queries === undefined ? 0 : sizeOf(queries);
  const valueCache = gpu.makeTensorInfo([cacheCount], 'float32');
  const rotatedQueries = queries === undefined ? undefined : gpu.makeTensorInfo([queryCount], 'float32');
  const buffers = (names: string[], writable = false) =>
    names.map((name) => ({ name, components: 1 as const, ...(writable ? { writable } : {}) }));
  const keyCache = runShader(
    gpu,
    {
      key: `McevalRopeAppend_${Number(queries !== undefined)}`,
      inputs: [
        ...buffers(['keys', 'cos', 'sin', 'pastKeys', 'values', 'pastValues']),
        ...buffers(['valueCache'], true),
        ...(queries === undefined ? [] : [...buffers(['queries']), ...buffers(['rotatedQueries'], true)]),
      ],
      uniforms:
        'cacheCount : i32, heads : i32, headDim : i32, queryCount : i32, queryHeads : i32, past : i32, length : i32, ' +
        'width : i32,',
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(2 * cacheCount + queryCount, WORKGROUP),
      outputSize: cacheCount,
      code: appendCode(queries !== undefined),
    },
    [
      keys,
      cos,
      sin,
      pastKeys,
      values,
      pastValues,
      valueCache,
      ...(queries === undefined ? [] : [queries, rotatedQueries!]),
    ],
    [cacheCount, heads, headDim, queryCount, queries?.shape.at(-2) ?? 0, past, length, width].map((value) => ({
      type: 'int32' as const,
      data: [value],
    })),
  );
  const caches = [shaped(keyCache, cacheShape), shaped(valueCache, cacheShape)];
  return queries === undefined ? caches : [...caches, shaped(rotatedQueries!, [...queries.shape])];
};

export function webGpuRopeAppendKernel(): KernelConfig {
  return { kernelName: ROPE_APPEND, backendName: 'webgpu', kernelFunc: ropeAppend };
}
