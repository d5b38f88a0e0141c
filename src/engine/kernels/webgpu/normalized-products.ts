/**
 * The tfjs kernel `McevalNormalizedProducts`, on webgpu only: RMSNorm(x)·W_l for plain layers that read one normalized
 * x — a base model's q, k and v, or its gate and up — in one dispatch of the few-rows shader, x normalized as it is
 * read (McevalRmsNorm's values), for a decoding step's rows. tfjs gave the norm a dispatch and each product one of its
 * own. Forward passes off the tape only: no gradient.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { numberedMembers } from './numbered-members.js';
import { fewRowsDispatch, fewRowsShape } from './few-rows.js';
import { FEW_ROWS_TILE, fewRowsProductCode, type FewRowsShape } from './few-rows-product-wgsl.js';
import {
  INLINE_UNIFORMS,
  PRODUCT_WORKGROUP,
  groupUniforms,
  memberName,
  membersSideBySide,
} from './low-rank-product-wgsl.js';
import {
  floatUniform,
  intUniform,
  runShader,
  shaped,
  storageBuffersPerShader,
  type ShaderInput,
  type WebGpuBackendLike,
} from './shader.js';

export const NORMALIZED_PRODUCTS = 'McevalNormalizedProducts';

/** RMSNorm's epsilon and the number of layers (inputs w0, w1, …). */
export interface NormalizedProductsAttrs {
  readonly normEps: number;
  readonly members: number;
}

/** The few-rows shader's shape for these products on this device, or undefined where they do not run as one. */
export function normalizedProductsShape(
  backend: WebGpuBackendLike,
  rows: number,
  inner: number,
  columns: readonly number[],
): FewRowsShape | undefined {
  // Bound: x, the norm weight, then each layer's W and output.
  if (2 + 2 * columns.length > storageBuffersPerShader(backend)) return undefined;
  const unsupported = [inner, ...columns].some((size) => size % 4 !== 0);
  return fewRowsShape(backend, {
    rows,
    unsupported,
    bias: false,
    addend: false,
    normalizedInput: true,
    members: columns.length,
  });
}

/** Inputs x [rows, inner], normWeight [inner] and w0, w1, … [inner, columns_l]. */
const normalizedProducts: KernelFunc = ({ inputs, backend, attrs }) => {
  const named = inputs as unknown as Record<string, TensorInfo>;
  const { normEps, members: count } = attrs as unknown as NormalizedProductsAttrs;
  const gpu = backend as unknown as WebGpuBackendLike;
  const x = named['x']!;
  const [rows, inner] = x.shape as [number, number];
  const weights = numberedMembers(named, count, ['w']).map(({ w }) => w);
  const columns = weights.map((w) => w.shape[1]!);
  const shape = normalizedProductsShape(gpu, rows, inner, columns);
  if (shape === undefined) throw new Error(`${NORMALIZED_PRODUCTS}: not for ${rows} rows of ${columns.join(', ')}`);
  const { firstTiles, columnTiles } = membersSideBySide(columns, FEW_ROWS_TILE);
  const results = columns.slice(1).map((width) => gpu.makeTensorInfo([rows * width], 'float32'));
  const declarations: ShaderInput[] = [{ name: 'x', components: 4 }];
  const tensors: TensorInfo[] = [x];
  weights.forEach((w, l) => {
    declarations.push({ name: memberName('w', l), components: 4 });
    tensors.push(w);
    if (l > 0) {
      declarations.push({ name: memberName('result', l), components: 1, writable: true });
      tensors.push(results[l - 1]!);
    }
  });
  declarations.push({ name: 'normWeight', components: 4 });
  tensors.push(named['normWeight']!);
  const output = runShader(
    gpu,
    {
      key: `${NORMALIZED_PRODUCTS}_${count}_${shape.rowsAtOnce}`,
      inputs: declarations,
      // The inline group's uniforms (group placement), their low-rank fields unused.
      uniforms: `${INLINE_UNIFORMS} ${groupUniforms(count, false)} normEps : f32,`,
      workgroupSize: PRODUCT_WORKGROUP,
      dispatch: fewRowsDispatch(columnTiles, rows, shape),
      outputSize: rows * columns[0]!,
      code: () => fewRowsProductCode(shape),
    },
    tensors,
    [
      ...[rows, columns[0]!, inner, 0].map(intUniform),
      floatUniform(0),
      floatUniform(0),
      ...columns.slice(1).flatMap((width, l) => [intUniform(width), intUniform(firstTiles[l + 1]!), floatUniform(0)]),
      floatUniform(normEps),
    ],
  );
  return [output, ...results].map((info, l) => shaped(info, [rows, columns[l]!]));
};

export function webGpuNormalizedProductsKernel(): KernelConfig {
  return { kernelName: NORMALIZED_PRODUCTS, backendName: 'webgpu', kernelFunc: normalizedProducts };
}
