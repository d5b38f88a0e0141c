/**
 * A decoding step's RoPE and KV cache on webgpu, `McevalRopeAppend`: a layer's new keys, rotated, and new values written
 * into its cache, [batch, capacity, heads·headDim] each, from position `past` on; and its queries rotated. One dispatch
 * where RoPE and the two concatenations took three. No gradient: decoding only.
 *
 * A cache has room for a whole generation (`capacity`: the prompt's positions and those of every new token a step
 * runs), so its tensors keep one shape from the prompt's pass to the last step:
 * - where the past cache has that capacity and nothing else holds its buffers (in-place.ts), the new rows are written
 *   into them: a step writes its own rows only. A cache copied at each step did work that grew with the sequence, and
 *   tfjs's buffer pool, which keeps each freed buffer for a later tensor of the same byte size, kept a freed cache of
 *   every length the generation went through — GPU memory quadratic in the number of new tokens;
 * - else (the prompt's pass; a past another tensor holds, or one without room) a new cache is made: the past's rows
 *   copied, the new ones written, the rest zero.
 * The caller gives up the past it passes: after the call its tensors may hold the new rows.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { sharedOutput } from '../backend-output.js';
import { inputsByBuffer, writableInPlace } from './in-place.js';
import { checkTables, ropeOnWebGpu, rotationCode } from './rope.js';
import {
  ELEMENT_INDEX,
  elementwiseDispatch,
  forgetHostCopy,
  intUniform,
  runShader,
  shaped,
  sizeOf,
  storageBuffersPerShader,
  type ShaderInput,
  type WebGpuBackendLike,
} from './shader.js';

export const ROPE_APPEND = 'McevalRopeAppend';

export interface RopeAppendAttrs {
  /** The past cache's first positions that hold keys (0 without a past). */
  readonly past: number;
  /** Positions of the cache returned: at least past + the new ones. */
  readonly capacity: number;
}

const WORKGROUP = 256;

/**
 * The storage buffers McevalRopeAppend binds: six, two more for a past it copies (written in place, the past's buffers
 * are the outputs) and two for the queries.
 */
export const ropeAppendBindings = (withQueries: boolean, copiesPast: boolean): number =>
  6 + (copiesPast ? 2 : 0) + (withQueries ? 2 : 0);

/**
 * Each invocation writes one element of the key cache or of the value cache: of positions first … first + span − 1 of
 * every batch row (all of them in a new cache, the new ones in place), a past row's (copied), a new one's, or zero.
 */
function appendCode(withQueries: boolean, copiesPast: boolean): string {
  const queries = withQueries
    ? ` else if (e < 2 * count + uniforms.queryCount) {
    rotatedQueries[e - 2 * count] = rotatedQuery(e - 2 * count);
  }`
    : '';
  const copied = (cache: string, source: string) =>
    copiesPast
      ? `if (t < uniforms.past) {
        ${cache}[at] = ${source}[(b * uniforms.pastStride + t) * uniforms.width + j];
      } else `
      : '';
  return `${rotationCode('rotatedKey', 'keys', 'uniforms.heads', false)}
${withQueries ? rotationCode('rotatedQuery', 'queries', 'uniforms.queryHeads', false) : ''}

fn main() {
  let e = ${ELEMENT_INDEX(WORKGROUP)};
  let count = uniforms.count;
  if (e < 2 * count) {
    let c = e % count;
    let rowLength = uniforms.span * uniforms.width;
    let b = c / rowLength;
    let t = uniforms.first + (c % rowLength) / uniforms.width;
    let j = c % uniforms.width;
    let at = (b * uniforms.capacity + t) * uniforms.width + j;
    let isNew = t >= uniforms.past && t < uniforms.past + uniforms.length;
    let fresh = (b * uniforms.length + t - uniforms.past) * uniforms.width + j;
    if (e < count) {
      ${copied('result', 'pastKeys')}if (isNew) {
        result[at] = rotatedKey(fresh);
      } else {
        result[at] = 0.0;
      }
    } else {
      ${copied('valueCache', 'pastValues')}if (isNew) {
        valueCache[at] = values[fresh];
      } else {
        valueCache[at] = 0.0;
      }
    }
  }${queries}
}
`;
}

interface AppendInputs {
  readonly keys: TensorInfo;
  readonly values: TensorInfo;
  readonly cos: TensorInfo;
  readonly sin: TensorInfo;
  readonly pastKeys?: TensorInfo;
  readonly pastValues?: TensorInfo;
  readonly queries?: TensorInfo;
}

/**
 * The keys' geometry ([batch, length, heads, headDim], width = heads·headDim); throws, naming the input, where a shape
 * does not fit beside the keys.
 */
function checkedGeometry(inputs: AppendInputs, attrs: RopeAppendAttrs) {
  const { keys, values, cos, pastKeys, pastValues, queries } = inputs;
  const [batch, length, heads, headDim] = keys.shape as [number, number, number, number];
  const width = heads * headDim;
  checkTables(keys, cos);
  const stored = pastKeys?.shape[1] ?? 0;
  const expected: [string, TensorInfo | undefined, number[]][] = [
    ['values', values, [batch, length, width]],
    ['pastKeys', pastKeys, [batch, stored, width]],
    ['pastValues', pastValues, [batch, stored, width]],
  ];
  for (const [name, tensor, shape] of expected) {
    if (tensor !== undefined && tensor.shape.join() !== shape.join()) {
      throw new Error(`McevalRopeAppend: ${name} [${tensor.shape}] is not [${shape}] beside keys [${keys.shape}]`);
    }
  }
  if ((pastKeys === undefined) !== (pastValues === undefined)) {
    throw new Error('McevalRopeAppend: pastKeys and pastValues go together');
  }
  if (attrs.past > stored) throw new Error(`McevalRopeAppend: past ${attrs.past} is more than the ${stored} stored`);
  if (attrs.capacity < attrs.past + length) {
    throw new Error(`McevalRopeAppend: capacity ${attrs.capacity} is less than ${attrs.past} past + ${length} new`);
  }
  if (queries !== undefined) {
    checkTables(queries, cos);
    if (queries.shape.at(-1) !== headDim) {
      throw new Error(`McevalRopeAppend: queries [${queries.shape}] differ in head size`);
    }
  }
  return { batch, length, heads, headDim, width };
}

const ropeAppend: KernelFunc = ({ inputs, backend, attrs }) => {
  const given = inputs as unknown as AppendInputs;
  const { keys, values, cos, sin, pastKeys, pastValues, queries } = given;
  const { past, capacity } = attrs as unknown as RopeAppendAttrs;
  const { batch, length, heads, headDim, width } = checkedGeometry(given, { past, capacity });
  const gpu = backend as unknown as WebGpuBackendLike;
  const bound = inputsByBuffer(Object.values(inputs) as TensorInfo[]);
  const inPlace =
    pastKeys !== undefined &&
    pastKeys.shape[1] === capacity &&
    writableInPlace(gpu, pastKeys, bound) &&
    writableInPlace(gpu, pastValues!, bound);
  const copiesPast = !inPlace && past > 0;
  // The queries go in the dispatch where the device binds them too; else McevalRope rotates them.
  const withQueries = queries !== undefined && ropeAppendBindings(true, copiesPast) <= storageBuffersPerShader(gpu);
  const [first, span] = inPlace ? [past, length] : [0, capacity];
  const count = batch * span * width;
  const cacheSize = batch * capacity * width;
  const queryCount = withQueries ? sizeOf(queries) : 0;
  const valueCache = inPlace ? shaped(pastValues!, [cacheSize]) : gpu.makeTensorInfo([cacheSize], 'float32');
  const rotatedQueries = withQueries ? gpu.makeTensorInfo([queryCount], 'float32') : undefined;
  const buffer = (name: string, writable = false): ShaderInput => ({
    name,
    components: 1,
    ...(writable ? { writable } : {}),
  });
  const keyCache = runShader(
    gpu,
    {
      key: `McevalRopeAppend_${Number(withQueries)}${Number(copiesPast)}`,
      inputs: [
        ...['keys', 'cos', 'sin', 'values'].map((name) => buffer(name)),
        ...(copiesPast ? [buffer('pastKeys'), buffer('pastValues')] : []),
        buffer('valueCache', true),
        ...(withQueries ? [buffer('queries'), buffer('rotatedQueries', true)] : []),
      ],
      uniforms:
        'count : i32, heads : i32, headDim : i32, queryCount : i32, queryHeads : i32, past : i32, length : i32, ' +
        'width : i32, capacity : i32, first : i32, span : i32, pastStride : i32,',
      workgroupSize: WORKGROUP,
      dispatch: elementwiseDispatch(2 * count + queryCount, WORKGROUP),
      outputSize: cacheSize,
      code: () => appendCode(withQueries, copiesPast),
    },
    [
      keys,
      cos,
      sin,
      values,
      ...(copiesPast ? [pastKeys!, pastValues!] : []),
      valueCache,
      ...(withQueries ? [queries!, rotatedQueries!] : []),
    ],
    [
      count,
      heads,
      headDim,
      queryCount,
      queries?.shape.at(-2) ?? 0,
      past,
      length,
      width,
      capacity,
      first,
      span,
      pastKeys?.shape[1] ?? 0,
    ].map(intUniform),
    inPlace ? shaped(pastKeys, [cacheSize]) : undefined,
  );
  const cacheShape = [batch, capacity, width];
  let caches: TensorInfo[];
  if (inPlace) {
    // Host copies left by earlier reads would now be stale.
    forgetHostCopy(gpu, pastKeys);
    forgetHostCopy(gpu, pastValues!);
    caches = [sharedOutput(gpu, pastKeys, cacheShape), sharedOutput(gpu, pastValues!, cacheShape)];
  } else {
    caches = [shaped(keyCache, cacheShape), shaped(valueCache, cacheShape)];
  }
  if (queries === undefined) return caches;
  const rotated = withQueries
    ? shaped(rotatedQueries!, [...queries.shape])
    : (ropeOnWebGpu({ inputs: { x: queries, cos, sin }, backend, attrs: { backward: false } }) as TensorInfo);
  return [...caches, rotated];
};

export function webGpuRopeAppendKernel(): KernelConfig {
  return { kernelName: ROPE_APPEND, backendName: 'webgpu', kernelFunc: ropeAppend };
}
