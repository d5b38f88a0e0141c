/**
 * Matrix products for gradients, and a product whose gradient uses them: d(A·B) gives dA = dY·Bᵀ and dB = Aᵀ·dY. On
 * tfjs-wasm a product with a transpose flag runs ~10× slower than an explicit transpose and a plain product
 * (engine-notes.md), and tfjs's own matMul gradient passes flags, so the operand is transposed first. tfjs-webgpu's
 * matmul shaders read a transposed operand in place, where an explicit transpose is one more dispatch and copy, so
 * there the flag is passed — though a transposed right operand one float at a time, so on webgpu those products run
 * on mceval's tiles (tiledProduct), which read it as vec4s. Operands are 2D, or batched 3D (the last two axes are the
 * matrix).
 */
import type { GradSaveFunc } from '@tensorflow/tfjs-core';
import { tf, type Tensor } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import { MATMUL_THRESHOLD } from '../kernels/webgpu/tfjs-flags.js';
import {
  MATRIX_PRODUCT,
  matrixProductOnFewRows,
  matrixProductSetting,
  tfjsTilesProduct,
  type MatrixProductAttrs,
} from '../kernels/webgpu/matrix-product.js';

/** The function type tf.customGrad takes (tfjs-core does not export it from its entry point). */
export type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

const transposeFlagsAreFree = () => tf.getBackend() === 'webgpu';

/**
 * a′·b′ (+ addend) (a′ = aᵀ when `transposeA`, b′ = bᵀ when `transposeB`) by mceval's tiles where the backend has
 * them, MCEVAL_WEBGPU_PRODUCTS takes this kind of product (`transposed` takes a transposed b, and an addend, which the
 * tiles add as they write: one dispatch fewer), and tfjs would tile it too (the products it has programs for few
 * workgroups stay with it) — or, whatever the setting but `tfjs`, it has few rows (the kernel runs it on its few-rows
 * shader); else undefined. Not differentiable: callers are gradient functions and custom ops' forward passes.
 */
function tiledProduct<T extends Tensor>(
  a: T,
  b: T,
  transposeA: boolean,
  transposeB: boolean,
  addend?: Tensor,
): T | undefined {
  if (!tilesTake(a, b, transposeA, transposeB, addend)) return undefined;
  const attrs: MatrixProductAttrs = { transposeX: transposeA, transposeW: transposeB };
  const inputs = { x: a, w: b, ...(addend === undefined ? {} : { addend }) };
  return tf.engine().runKernel(MATRIX_PRODUCT, inputs as never, attrs as never) as T;
}

/** Whether tiledProduct runs a′·b′ (+ addend) on mceval's tiles. */
function tilesTake(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean, addend?: Tensor): boolean {
  if (a.rank !== 2 || b.rank !== 2 || a.dtype !== 'float32' || b.dtype !== 'float32') return false;
  if (addend !== undefined && addend.dtype !== 'float32') return false;
  if (!hasKernel(MATRIX_PRODUCT)) return false;
  const setting = matrixProductSetting();
  if (setting === 'tfjs') return false;
  const rows = transposeA ? a.shape[1]! : a.shape[0]!;
  const columns = transposeB ? b.shape[0]! : b.shape[1]!;
  // A decoding step's products: tfjs's programs for few workgroups add no residual and gate nothing.
  if (matrixProductOnFewRows(rows, transposeB ? b.shape[1]! : b.shape[0]!, columns, transposeA)) return true;
  if (setting === 'transposed' && !transposeB && addend === undefined) return false;
  const threshold = tf.env().getNumber(MATMUL_THRESHOLD.flag);
  return tfjsTilesProduct(tf.backend() as never, threshold, rows, columns);
}

/** a·b: 2D operands by mceval's tiles where MCEVAL_WEBGPU_PRODUCTS=all (tiledProduct), else tfjs's matMul. */
export function plainProduct<T extends Tensor>(a: T, b: T): T {
  return tiledProduct(a, b, false, false) ?? (tf.matMul(a, b) as T);
}

/** addend + a·b for 2D operands: the addend added inside the product where mceval's tiles take it (tiledProduct). */
export function productPlus<T extends Tensor>(a: T, b: T, addend: T): T {
  return tiledProduct(a, b, false, false, addend) ?? (tf.add(addend, tf.matMul(a, b)) as T);
}

/**
 * addend + silu(gate)·up · b for 2D operands, the gating (SwiGLU's) read inside the product as its left operand is
 * loaded, where mceval's tiles take addend + a·b (productPlus); else undefined, and the caller gates first. The values
 * are McevalSwiGlu's, so the result is productPlus's of the gated tensor. Not differentiable: for forward passes off
 * the tape.
 */
export function gatedProductPlus<T extends Tensor>(gate: T, up: T, b: T, addend: T): T | undefined {
  if (!tilesTake(gate, b, false, false, addend)) return undefined;
  const attrs: MatrixProductAttrs = { transposeX: false, transposeW: false };
  return tf.engine().runKernel(MATRIX_PRODUCT, { gate, up, w: b, addend } as never, attrs as never) as T;
}

/** The operand with its last two axes swapped. */
function swapped<T extends Tensor>(operand: T): T {
  return (operand.rank === 2 ? tf.transpose(operand) : tf.transpose(operand, [0, 2, 1])) as T;
}

/** a·bᵀ. */
export function productTransposedRight<T extends Tensor>(a: T, b: T): T {
  if (!transposeFlagsAreFree()) return tf.matMul(a, swapped(b)) as T;
  return tiledProduct(a, b, false, true) ?? (tf.matMul(a, b, false, true) as T);
}

/**
 * b made ready to be the right operand of several a·bᵀ products (a chunked loop): transposed once where transpose flags
 * are not free rather than once per product. The transpose belongs to the calling tf.tidy.
 */
export function transposedRightOperand<T extends Tensor>(b: T): (a: T) => T {
  if (transposeFlagsAreFree()) return (a) => productTransposedRight(a, b);
  const transposed = swapped(b);
  return (a) => tf.matMul(a, transposed) as T;
}

/** aᵀ·b. */
export function productTransposedLeft<T extends Tensor>(a: T, b: T): T {
  if (!transposeFlagsAreFree()) return tf.matMul(swapped(a), b) as T;
  return tiledProduct(a, b, true, false) ?? (tf.matMul(a, b, true, false) as T);
}

/** a·b, differentiable in both, its gradients by productTransposedRight and productTransposedLeft. */
export function differentiableProduct<T extends Tensor>(): (a: T, b: T) => T {
  return tf.customGrad(((a: T, b: T, save: GradSaveFunc) => {
    save([a, b]);
    return {
      value: plainProduct(a, b),
      gradFunc: tidyGradient((dy: T, saved: Tensor[]) => {
        const [savedA, savedB] = saved as [T, T];
        return [productTransposedRight(dy, savedB), productTransposedLeft(savedA, dy)];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (a: T, b: T) => T;
}

/**
 * A customGrad gradient function whose intermediates are released as soon as it returns. tfjs calls a customGrad's
 * gradFunc in the scope of the whole backward pass, so without this every temporary (transposes, partial products)
 * lives until the last gradient is computed.
 */
export function tidyGradient<D extends Tensor>(
  gradient: (dy: D, saved: Tensor[]) => Tensor | Tensor[],
): (dy: D, saved: Tensor[]) => Tensor | Tensor[] {
  return (dy, saved) => tf.tidy(() => gradient(dy, saved));
}
