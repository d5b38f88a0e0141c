/**
 * The tfjs kernel `McevalMatrixProduct`, on webgpu only: x′·W′ for 2D float32 operands, x′ = x or xᵀ, W′ = W or Wᵀ, on
 * the low-rank product's tiles without its low-rank part (matrixProductCode). tfjs-webgpu's matMul reads a transposed
 * right operand one float at a time (its vec4 program takes plain layouts only), and the products that have one — a
 * frozen layer's input gradient dy·Wᵀ (IA3, prompt tuning, full fine-tuning, every layer outside the adapter), a tied
 * LM head's logits x·Eᵀ — are as large as the layers' own. engine/ops/product.ts runs them here
 * (MCEVAL_WEBGPU_PRODUCTS), and a plain frozen layer's output with the residual stream added as it is written, leaving
 * to tfjs the products it gives its programs for few workgroups (a classifier's columns) — but for those of few rows
 * (a decoding step's), which run on the few-rows shader (few-rows.ts). The rest of a layer split at its dropout
 * (ops/dropout-rest.ts) runs here too: x read through 1 − its mask, or the product times 1 − it, with a bias.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { environmentChoice } from '../../environment-choice.js';
import { leftOperandOf, productTiling, tilingKey, type LeftInputs } from './low-rank-product.js';
import {
  MATRIX_PRODUCT_UNIFORMS,
  PRODUCT_WORKGROUP,
  maskUniforms,
  matrixProductCode,
  productTile,
  type MaskUse,
} from './low-rank-product-wgsl.js';
import { intUniform, runShader, shaped, type WebGpuBackendLike } from './shader.js';
import { dropoutUniformValues } from './hashed-dropout-wgsl.js';
import type { HashedDropout } from '../../dropout-bits.js';
import { fewRowsColumnTiles, fewRowsDispatch, fewRowsMost, fewRowsShape } from './few-rows.js';
import { fewRowsProductCode } from './few-rows-product-wgsl.js';

export const MATRIX_PRODUCT = 'McevalMatrixProduct';

/**
 * x′ = xᵀ when `transposeX` (x stored [inner, rows]), W′ = Wᵀ when `transposeW` (W stored [columns, inner]); a dropout
 * mask on x as it is read (x not transposed) or on the product before the bias and addend, made from its hash.
 */
export interface MatrixProductAttrs {
  readonly transposeX: boolean;
  readonly transposeW: boolean;
  readonly inputMask?: MaskedBy | undefined;
  readonly outputMask?: MaskedBy | undefined;
}

/** A dropout's mask m as a product uses it: m, or 1 − m (low-rank-product-wgsl.ts's MaskUse). */
export interface MaskedBy {
  readonly dropout: HashedDropout;
  readonly use: MaskUse;
}

const SETTING = 'MCEVAL_WEBGPU_PRODUCTS';

/**
 * MCEVAL_WEBGPU_PRODUCTS: which of the 2D products tfjs would tile run on mceval's tiles — `transposed` (the default:
 * those with a transposed right operand, and those a residual is added to, inside the product), `all` (a transposed
 * left operand too, which tfjs reads as vec4s, and plain ones), or `tfjs` (none). The kit times a full fine-tuning step
 * each way. Read as the engine starts too, so that a bad value stops a run first.
 */
export function matrixProductSetting(): 'transposed' | 'all' | 'tfjs' {
  return environmentChoice(SETTING, ['transposed', 'all', 'tfjs']);
}

/** tfjs-webgpu's count of 32 × 32 output tiles at or under which a product has too few workgroups, by GPU. */
interface TfjsMatMulBackend {
  readonly thresholdToIncreaseWorkgroups?: number;
}

/**
 * Whether tfjs-webgpu would give a [rows, columns] product its tiled program rather than one for few workgroups
 * (split-K, small tiles, a reduction): its own test (batchMatMulImpl's), with the threshold its flag
 * (MCEVAL_WEBGPU_MATMUL_THRESHOLD) or the GPU sets, doubled for 8 rows or fewer.
 */
export function tfjsTilesProduct(backend: TfjsMatMulBackend, flag: number, rows: number, columns: number): boolean {
  const threshold = flag > 0 ? flag : (backend.thresholdToIncreaseWorkgroups ?? 8);
  const tiles = Math.ceil(rows / 32) * Math.ceil(columns / 32);
  return !(tiles <= threshold || (rows <= 8 && tiles <= threshold * 2));
}

/**
 * Whether a product of these sizes runs on the few-rows shader (few-rows.ts): few rows, x not transposed, and sizes
 * read as vec4s.
 */
export function matrixProductOnFewRows(rows: number, inner: number, columns: number, transposeX: boolean): boolean {
  return !transposeX && inner % 4 === 0 && columns % 4 === 0 && rows <= fewRowsMost();
}

/**
 * Inputs: x (or, not transposed, SwiGLU's gating of `gate` and `up`, formed as it is read: LeftInputs), w, and a bias
 * [columns] and an addend [rows, columns] added to the product as it is written (a residual stream), if any.
 */
export interface MatrixProductInputs extends LeftInputs {
  readonly w: TensorInfo;
  readonly bias?: TensorInfo;
  readonly addend?: TensorInfo;
}

const matrixProduct: KernelFunc = ({ inputs, backend, attrs }) => {
  const { w, bias, addend, ...leftInputs } = inputs as unknown as MatrixProductInputs;
  const { transposeX, transposeW, inputMask, outputMask } = attrs as unknown as MatrixProductAttrs;
  const stored = leftOperandOf(leftInputs, 1).shape;
  const [rows, inner] = (transposeX ? [stored[1], stored[0]] : stored) as [number, number];
  const columns = transposeW ? w.shape[0]! : w.shape[1]!;
  // Each operand is read four values at a time along its stored rows.
  const vectorized = inner % 4 === 0 && columns % 4 === 0 && (!transposeX || rows % 4 === 0);
  const left = leftOperandOf(leftInputs, vectorized ? 4 : 1);
  const tiles = productTiling();
  const tile = productTile(tiles.blocks);
  const added = addend !== undefined;
  const biased = bias !== undefined;
  const masks = [inputMask?.use ?? '', outputMask?.use ?? ''];
  const gated = left.activation === 'swiglu';
  const flags = [vectorized, transposeX, transposeW, added, gated, biased];
  const gpu = backend as unknown as WebGpuBackendLike;
  const few = fewRowsShape(gpu, {
    rows,
    unsupported:
      !matrixProductOnFewRows(rows, inner, columns, transposeX) || biased || [inputMask, outputMask].some(Boolean),
    bias: false,
    addend: added,
    gatedInput: gated,
    members: 1,
    transposeW,
  });
  const output = runShader(
    gpu,
    {
      ...(few === undefined
        ? {
            key: `McevalMatrixProduct_${flags.map(Number).join('')}_${masks.join('_')}_${tilingKey(tiles)}`,
            dispatch: [Math.ceil(columns / tile), Math.ceil(rows / tile)] as const,
            code: () =>
              matrixProductCode({
                vectorized,
                transposeX,
                transposeW,
                addend: added,
                bias: biased,
                ...tiles,
                gatedInput: gated,
                inputMasked: inputMask?.use,
                outputMasked: outputMask?.use,
              }),
          }
        : {
            key: `McevalMatrixProductFewRows_${few.rowsAtOnce}_${[added, gated, transposeW].map(Number).join('')}`,
            dispatch: fewRowsDispatch(fewRowsColumnTiles(columns), rows, few),
            code: () => fewRowsProductCode(few),
          }),
      inputs: [
        ...left.declarations,
        { name: 'w', components: vectorized ? 4 : 1 },
        ...(biased ? [{ name: 'bias', components: 1 } as const] : []),
        ...(added ? [{ name: 'addend', components: 1 } as const] : []),
      ],
      uniforms: `${MATRIX_PRODUCT_UNIFORMS} ${maskUniforms(inputMask !== undefined, outputMask !== undefined)}`,
      workgroupSize: PRODUCT_WORKGROUP,
      outputSize: rows * columns,
    },
    [...left.tensors, w, ...(biased ? [bias] : []), ...(added ? [addend] : [])],
    [...[rows, columns, inner].map(intUniform), ...dropoutUniformValues(inputMask?.dropout, outputMask?.dropout)],
  );
  return shaped(output, [rows, columns]);
};

export function webGpuMatrixProductKernel(): KernelConfig {
  return { kernelName: MATRIX_PRODUCT, backendName: 'webgpu', kernelFunc: matrixProduct };
}
