/**
 * The tfjs kernel `McevalLowRankProduct`, on webgpu only: x·W′ + bias + scale · mask ⊙ (d·E′) in one shader
 * (low-rank-product-wgsl.ts). engine/ops/low-rank-linear.ts uses it where it is registered, for a LoRA layer's output
 * (x·W + b + s·(x·A)·B) and for its input gradient (dy·Wᵀ + mask ⊙ (dDown·Aᵀ)); elsewhere that op composes tfjs ops.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UserError } from '../../../errors.js';
import {
  LOW_RANK_UNIFORMS,
  PRODUCT_WORKGROUP,
  lowRankProductCode,
  productTile,
  type LowRankProductShape,
  type ProductBlocks,
} from './low-rank-product-wgsl.js';
import { runShader, shaped, type WebGpuBackendLike } from './shader.js';

export const LOW_RANK_PRODUCT = 'McevalLowRankProduct';

/** Attributes: W′ = Wᵀ when `transposeW` (W stored [columns, inner]), E′ likewise, and the low-rank scale. */
export interface LowRankProductAttrs {
  readonly transposeW: boolean;
  readonly transposeE: boolean;
  readonly scale: number;
}

/** Inputs: x [rows, inner], w, d [rows, rank], e; optional bias [columns] and mask [rows, columns]. */
export interface LowRankProductInputs {
  readonly x: TensorInfo;
  readonly w: TensorInfo;
  readonly d: TensorInfo;
  readonly e: TensorInfo;
  readonly bias?: TensorInfo;
  readonly mask?: TensorInfo;
}

/**
 * The output tile, MCEVAL_WEBGPU_PRODUCT_TILE: 64 (the default; 4 × 4 outputs per invocation) or 128 (8 × 8: half the
 * workgroup loads per multiply-add, twice the registers) — which is faster depends on the GPU (bench/gpu measures
 * both). Read as the engine starts too, so that a bad value stops a run first.
 */
export function productBlocks(): ProductBlocks {
  const setting = process.env['MCEVAL_WEBGPU_PRODUCT_TILE'];
  if (setting === undefined || setting === '' || setting === '64') return 1;
  if (setting === '128') return 2;
  throw new UserError(`MCEVAL_WEBGPU_PRODUCT_TILE=${setting} is not a tile mceval has: use 64 or 128, or unset it.`);
}

const lowRankProduct: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, w, d, e, bias, mask } = inputs as unknown as LowRankProductInputs;
  const { transposeW, transposeE, scale } = attrs as unknown as LowRankProductAttrs;
  const [rows, inner] = x.shape as [number, number];
  const rank = d.shape[1]!;
  const columns = transposeW ? w.shape[0]! : w.shape[1]!;
  const vectorized = inner % 4 === 0 && columns % 4 === 0 && rank % 4 === 0;
  const blocks = productBlocks();
  const shape: LowRankProductShape = {
    vectorized,
    transposeW,
    transposeE,
    bias: bias !== undefined,
    mask: mask !== undefined,
    blocks,
  };
  // One compiled shader per combination (tfjs caches pipelines by key).
  const variant = [vectorized, transposeW, transposeE, shape.bias, shape.mask, blocks === 2].map(Number).join('');
  const operands = ['x', 'w', 'd', 'e'].map((name) => ({ name, components: vectorized ? 4 : 1 }) as const);
  const extras = [...(bias ? ['bias'] : []), ...(mask ? ['mask'] : [])].map(
    (name) => ({ name, components: 1 }) as const,
  );
  const output = runShader(
    backend as unknown as WebGpuBackendLike,
    {
      key: `McevalLowRankProduct_${variant}`,
      inputs: [...operands, ...extras],
      uniforms: LOW_RANK_UNIFORMS,
      workgroupSize: PRODUCT_WORKGROUP,
      dispatch: [Math.ceil(columns / productTile(blocks)), Math.ceil(rows / productTile(blocks))],
      outputSize: rows * columns,
      code: lowRankProductCode(shape),
    },
    [x, w, d, e, ...(bias ? [bias] : []), ...(mask ? [mask] : [])],
    [
      ...[rows, columns, inner, rank].map((value) => ({ type: 'int32' as const, data: [value] })),
      { type: 'float32', data: [scale] },
    ],
  );
  return shaped(output, [rows, columns]);
};

export function webGpuLowRankProductKernel(): KernelConfig {
  return { kernelName: LOW_RANK_PRODUCT, backendName: 'webgpu', kernelFunc: lowRankProduct };
}
