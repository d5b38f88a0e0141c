/**
 * The tfjs kernel `McevalNarrowProduct`, on webgpu only: y = scale · (mask ⊙ x)·W′ for x [rows, inner] and an output as
 * narrow as a low-rank update's rank (W′ = W [inner, n], or Wᵀ for W stored [n, inner]). A LoRA layer's x·A (with its
 * dropout mask made from its hash as x is read, so neither the mask nor m ⊙ x is written) and s·dy·Bᵀ (the scaling
 * applied to the product rather than to dy): each was tfjs's matMul after an elementwise dispatch. tfjs's tiles are 32
 * wide, so an [rows, 8] output wasted three quarters of them; here a workgroup takes 16 rows, 16 invocations to a row,
 * each invocation every 16th inner index (four at a time where the inner size is a multiple of 4) into n accumulators,
 * and the 16 are added by a tree in workgroup memory, the same order every time. engine/ops/low-rank-linear.ts uses it
 * where it is registered. x may be given as SwiGLU's `gate` and `up` instead, or GELU's `preActivation`, formed as it
 * is read (a trained down or output projection's x·A: engine/ops/activated-low-rank-linear.ts).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { HashedDropout } from '../../dropout-bits.js';
import {
  HASHED_KEEP_WGSL,
  dropoutAt,
  dropoutAt4,
  dropoutUniformValues,
  dropoutUniforms,
} from './hashed-dropout-wgsl.js';
import { elementwiseDispatch, floatUniform, intUniform, runShader, shaped, type WebGpuBackendLike } from './shader.js';
import { activationReads, leftOperand, type Activation } from './low-rank-product-wgsl.js';
import { activationFlags, leftOperandOf, type LeftInputs } from './low-rank-product.js';

export const NARROW_PRODUCT = 'McevalNarrowProduct';

/** Outputs per row the kernel takes: its accumulators are registers, n of them per invocation. */
export const NARROW_PRODUCT_MAX_COLUMNS = 64;

export interface NarrowProductAttrs {
  /** W is stored [n, inner]. */
  readonly transposeW: boolean;
  readonly scale: number;
  /** The dropout mask on x (shaped like it), made where x is read; none when undefined. */
  readonly dropout?: HashedDropout | undefined;
}

const LANES = 16;
const ROWS = 16;
const WORKGROUP = LANES * ROWS;

/** WGSL: W′'s row k, columns 4j … 4j + 3 (zero beyond n). */
function weightRow(transposeW: boolean): string {
  const at = transposeW ? '(j * 4 + c) * uniforms.inner + k' : 'k * uniforms.columns + j * 4 + c';
  return `
fn weightRow(k : i32, j : i32) -> vec4<f32> {
  var value = vec4<f32>(0.0);
  for (var c = 0; c < 4; c++) {
    if (j * 4 + c < uniforms.columns) {
      value[c] = w[${at}];
    }
  }
  return value;
}`;
}

function code(
  groups: number,
  transposeW: boolean,
  mask: boolean,
  vectorized: boolean,
  activation: Activation | undefined,
): string {
  // Vectorized, `at` counts vec4s: the mask's elements 4·at … 4·at + 3.
  const masked = (value: string, at: string) =>
    mask ? `${value} * ${vectorized ? dropoutAt4('dropout', `${at} * 4`) : dropoutAt('dropout', at)}` : value;
  // x as it is stored, or (vectorized only) SwiGLU's gating of gate and up or GELU of preActivation, formed as read.
  const left = leftOperand({ ...activationReads(activation), vectorized });
  // Vectorized: invocation `lane` reads inner indices 4·lane … 4·lane + 3, then every 4·LANES-th on.
  const accumulate = vectorized
    ? `for (var k = lane * 4; k < uniforms.inner; k += ${4 * LANES}) {
      let at = (row * uniforms.inner + k) / 4;
      let xs = ${masked(left.read('at'), 'at')};
      for (var j = 0; j < GROUPS; j++) {
        acc[j] += xs.x * weightRow(k, j) + xs.y * weightRow(k + 1, j) + xs.z * weightRow(k + 2, j)
          + xs.w * weightRow(k + 3, j);
      }
    }`
    : `for (var k = lane; k < uniforms.inner; k += ${LANES}) {
      let at = row * uniforms.inner + k;
      let xk = ${masked('x[at]', 'at')};
      for (var j = 0; j < GROUPS; j++) {
        acc[j] += xk * weightRow(k, j);
      }
    }`;
  return `${mask ? HASHED_KEEP_WGSL : ''}${left.declarations}
const GROUPS = ${groups};
var<workgroup> parts : array<vec4<f32>, ${WORKGROUP}>;
${weightRow(transposeW)}

fn main() {
  let t = i32(localIndex);
  let lane = t % ${LANES};
  let row = i32(workgroupId.y * numWorkgroups.x + workgroupId.x) * ${ROWS} + t / ${LANES};
  var acc : array<vec4<f32>, GROUPS>;
  if (row < uniforms.rows) {
    ${accumulate}
  }
  // Each group of four outputs: the row's 16 partial sums added by a tree (uniform control flow: barriers).
  for (var j = 0; j < GROUPS; j++) {
    parts[t] = acc[j];
    workgroupBarrier();
    for (var width = ${LANES / 2}; width > 0; width /= 2) {
      if (lane < width) {
        parts[t] += parts[t + width];
      }
      workgroupBarrier();
    }
    if (lane == 0 && row < uniforms.rows) {
      let sum = parts[t] * uniforms.scale;
      for (var c = 0; c < 4; c++) {
        if (j * 4 + c < uniforms.columns) {
          result[row * uniforms.columns + j * 4 + c] = sum[c];
        }
      }
    }
    workgroupBarrier();
  }
}
`;
}

const narrowProduct: KernelFunc = ({ inputs, backend, attrs }) => {
  const { w, ...leftInputs } = inputs as unknown as LeftInputs & { w: TensorInfo };
  const { transposeW, scale, dropout } = attrs as unknown as NarrowProductAttrs;
  const left = leftOperandOf(leftInputs, 4);
  const [rows, inner] = left.shape as [number, number];
  const columns = transposeW ? w.shape[0]! : w.shape[1]!;
  if (columns > NARROW_PRODUCT_MAX_COLUMNS) throw new Error(`McevalNarrowProduct: ${columns} columns is too wide`);
  const groups = Math.ceil(columns / 4);
  const vectorized = inner % 4 === 0;
  if (left.activation !== undefined && !vectorized)
    throw new Error('McevalNarrowProduct: an activation is read as vec4s');
  const flags = [transposeW, dropout !== undefined, vectorized, ...activationFlags(left.activation)];
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: `McevalNarrowProduct_${groups}_${flags.map(Number).join('')}`,
      inputs: [
        ...left.declarations.map(({ name }) => ({ name, components: vectorized ? 4 : 1 }) as const),
        { name: 'w', components: 1 },
      ],
      uniforms: `rows : i32, inner : i32, columns : i32, scale : f32, ${dropout ? dropoutUniforms('dropout') : ''}`,
      workgroupSize: WORKGROUP,
      // A workgroup per ROWS rows, LANES invocations to a row.
      dispatch: elementwiseDispatch(rows * LANES, WORKGROUP),
      outputSize: rows * columns,
      code: () => code(groups, transposeW, dropout !== undefined, vectorized, left.activation),
    },
    [...left.tensors, w],
    [...[rows, inner, columns].map(intUniform), floatUniform(scale), ...(dropout ? dropoutUniformValues(dropout) : [])],
  );
  return shaped(output, [rows, columns]);
};

export function webGpuNarrowProductKernel(): KernelConfig {
  return { kernelName: NARROW_PRODUCT, backendName: 'webgpu', kernelFunc: narrowProduct };
}
