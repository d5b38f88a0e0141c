/**
 * A frozen linear layer with a low-rank update, as one op: y = x·W (+ b) + s·((m ⊙ x)·(A + P))·B, with m an
 * inverted-dropout mask (or none), P a perturbation of A (or none) and s the update's scaling. Gradients flow to x, A,
 * B and P.
 *
 * Written out as one custom gradient so that a training step keeps only what the backward pass needs — x, the mask and
 * the [tokens, r] product (m ⊙ x)·A — instead of every intermediate (base output, dropped-out input, B-product, scaled
 * update, sum), which tfjs otherwise holds until the end of the step. Forward values are the same ops in the same order
 * as composing frozenLinear, dropout and linear, so outputs are bit-identical; the gradients are the same products
 * (product.ts's transposed products; A's and B's by `lowRankWeightGradients`), summed in another order. Where the
 * backend has the McevalLowRankProduct kernel (webgpu), the output x·W + b + s·down·B and the input gradient
 * dy·Wᵀ + m ⊙ (dDown·(A + P)ᵀ) are each one shader, which writes neither product on its own, and the narrow products
 * down = (m ⊙ x)·(A + P) and dDown = s·dy·Bᵀ are narrowProduct's, with the mask and the scaling applied inside — or,
 * where inlinesNarrowProduct says so (small products on a hardware GPU, whose steps wait on the host's recording of
 * dispatches), each formed inside the product that needs it (McevalLowRankProductInline): two dispatches a layer
 * fewer.
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor2D } from '../tf.js';
import { productTransposedRight, tidyGradient, type CustomGradientFunc } from './product.js';
import { narrowProduct } from './narrow-product.js';
import { lowRankWeightGradients } from './low-rank-weight-gradients.js';
import {
  LOW_RANK_PRODUCT,
  LOW_RANK_PRODUCT_INLINE,
  inlinesNarrowProduct,
  type InlineProductAttrs,
  type InlineProductInputs,
  type LowRankProductAttrs,
  type LowRankProductInputs,
} from '../kernels/webgpu/low-rank-product.js';
import type { WebGpuBackendLike } from '../kernels/webgpu/shader.js';
import { hasKernel } from '../kernels/has-kernel.js';

export interface LowRankUpdate {
  /** [in, r]. */
  readonly a: Tensor2D;
  /** [r, out]. */
  readonly b: Tensor2D;
  readonly scaling: number;
  /** Inverted-dropout mask shaped like x, or none. */
  readonly mask?: Tensor;
  /** [in, r], added to A inside the op (MonteCLoRA's sample); it receives A's gradient. */
  readonly perturbation?: Tensor2D;
}

/** Kernel inputs, those left undefined not passed. */
type Given<T> = { readonly [K in keyof T]?: Tensor | undefined };

/** x·W′ + bias + scale · mask ⊙ (d·E′) + addend by the backend's McevalLowRankProduct kernel (webgpu). */
function lowRankProduct(inputs: Given<LowRankProductInputs>, attrs: LowRankProductAttrs) {
  const given = Object.fromEntries(Object.entries(inputs).filter(([, tensor]) => tensor !== undefined));
  return tf.engine().runKernel(LOW_RANK_PRODUCT, given as never, attrs as never) as Tensor2D;
}

/**
 * [y, t]: x·W′ + bias + scale · mask ⊙ (t·E′) + addend and t = narrowScale · (inputMask ⊙ x)·N′ in one dispatch, by
 * the backend's McevalLowRankProductInline kernel (webgpu).
 */
function inlineLowRankProduct(inputs: Given<InlineProductInputs>, attrs: InlineProductAttrs): [Tensor2D, Tensor2D] {
  const given = Object.fromEntries(Object.entries(inputs).filter(([, tensor]) => tensor !== undefined));
  return tf.engine().runKernel(LOW_RANK_PRODUCT_INLINE, given as never, attrs as never) as unknown as [
    Tensor2D,
    Tensor2D,
  ];
}

/** Whether the product of x [rows, inner] into `columns` forms its narrow product in the same dispatch. */
function inlines(rows: number, inner: number, columns: number, rank: number, inputMask: boolean): boolean {
  if (!hasKernel(LOW_RANK_PRODUCT_INLINE)) return false;
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  return inlinesNarrowProduct(backend, { rows, inner, columns, rank, inputMask });
}

/**
 * The layer's output for x [..., in]; with `residual` [..., out] given, residual + the output (a decoder's residual
 * stream, added inside the product on webgpu).
 */
export function lowRankLinear(
  x: Tensor,
  weight: Tensor2D,
  bias: Tensor | undefined,
  update: LowRankUpdate,
  residual?: Tensor,
): Tensor {
  const inFeatures = x.shape[x.shape.length - 1]!;
  const flat = (t: Tensor) => tf.reshape(t, [-1, inFeatures]) as Tensor2D;
  const mask = update.mask === undefined ? undefined : flat(update.mask);
  const { scaling } = update;
  // Where the backend has the fused kernel, the base and low-rank products are summed in one pass (forward and dx).
  const fused = hasKernel(LOW_RANK_PRODUCT);
  const flatBias = fused && bias !== undefined ? tf.reshape(bias, [-1]) : undefined;
  // [x·W + b + s·down·B (+ addend), down] with down = (m ⊙ x)·A′ by a dispatch of its own: one fused product, or
  // tfjs ops (the addend added last, as the model's tf.add(residual, output) did).
  const separateProducts = (
    input: Tensor2D,
    factor: Tensor2D,
    b: Tensor2D,
    addend?: Tensor2D,
  ): [Tensor2D, Tensor2D] => {
    const down = narrowProduct(input, factor, mask === undefined ? {} : { mask });
    if (fused) {
      const value = lowRankProduct(
        { x: input, w: weight, d: down, e: b, bias: flatBias, addend },
        { transposeW: false, transposeE: false, scale: scaling },
      );
      return [value, down];
    }
    const product = tf.matMul(input, weight);
    const base = bias === undefined ? product : tf.add(product, bias);
    const value = tf.add(base, tf.mul(tf.matMul(down, b), scaling)) as Tensor2D;
    return [addend === undefined ? value : (tf.add(addend, value) as Tensor2D), down];
  };
  // [dy·Wᵀ + m ⊙ (dDown·A′ᵀ), dDown] with dDown = s·dy·Bᵀ by a dispatch of its own: one fused product, or tfjs ops.
  const separateGradients = (
    dy: Tensor2D,
    ws: Tensor2D,
    bs: Tensor2D,
    factors: Tensor2D,
    masks: Tensor | undefined,
  ): [Tensor2D, Tensor2D] => {
    const dDown = narrowProduct(dy, bs, { transposeW: true, scale: scaling });
    if (fused) {
      const dx = lowRankProduct(
        { x: dy, w: ws, d: dDown, e: factors, mask: masks },
        { transposeW: true, transposeE: true, scale: 1 },
      );
      return [dx, dDown];
    }
    const low = productTransposedRight(dDown, factors);
    return [tf.add(productTransposedRight(dy, ws), masks === undefined ? low : tf.mul(low, masks)) as Tensor2D, dDown];
  };
  // Inputs: x, A, B and, when given, A's perturbation and the residual; customGrad passes them first and the save
  // function last.
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as GradSaveFunc;
    const [input, a, b, ...rest] = args as Tensor2D[] as [Tensor2D, Tensor2D, Tensor2D, ...Tensor2D[]];
    const perturbation = update.perturbation === undefined ? undefined : rest.shift();
    const addend = residual === undefined ? undefined : rest.shift();
    const factor = perturbation === undefined ? a : (tf.add(a, perturbation) as Tensor2D);
    const [rows, rank, outFeatures] = [input.shape[0], a.shape[1], weight.shape[1]];
    const [value, down] = inlines(rows, inFeatures, outFeatures, rank, mask !== undefined)
      ? inlineLowRankProduct(
          { x: input, w: weight, n: factor, e: b, bias: flatBias, inputMask: mask, addend },
          { transposeW: false, transposeN: false, transposeE: false, narrowScale: 1, scale: scaling },
        )
      : separateProducts(input, factor, b, addend);
    save([input, factor, b, down, weight, ...(mask === undefined ? [] : [mask])]);
    return {
      value,
      gradFunc: tidyGradient((dy: Tensor2D, saved: Tensor[]) => {
        const [xs, factors, bs, downs, ws, masks] = saved as [
          Tensor2D,
          Tensor2D,
          Tensor2D,
          Tensor2D,
          Tensor2D,
          Tensor?,
        ];
        // The scaling multiplies the [tokens, r] and [r, out] products rather than dy [tokens, out] (less work; on
        // webgpu inside their kernels).
        const [dx, dDown] = inlines(rows, outFeatures, inFeatures, rank, false)
          ? inlineLowRankProduct(
              { x: dy, w: ws, n: bs, e: factors, mask: masks },
              { transposeW: true, transposeN: true, transposeE: true, narrowScale: scaling, scale: 1 },
            )
          : separateGradients(dy, ws, bs, factors, masks);
        const [dA, dB] = lowRankWeightGradients({
          x: xs,
          ...(masks === undefined ? {} : { mask: masks }),
          dDown,
          down: downs,
          dy,
          dyScale: scaling,
        });
        // A perturbation added to A receives A's gradient, and the residual the output's: each its own tensor, since
        // tfjs accumulates each input's separately (a clone shares the buffer).
        return [
          dx,
          dA,
          dB,
          ...(perturbation === undefined ? [] : [tf.clone(dA)]),
          ...(addend === undefined ? [] : [tf.clone(dy)]),
        ];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (...inputs: Tensor2D[]) => Tensor2D;
  const optional = [
    update.perturbation,
    residual === undefined ? undefined : tf.reshape(residual, [-1, weight.shape[1]]),
  ];
  const y = op(flat(x), update.a, update.b, ...optional.filter((t): t is Tensor2D => t !== undefined));
  return tf.reshape(y, [...x.shape.slice(0, -1), y.shape[1]]);
}
