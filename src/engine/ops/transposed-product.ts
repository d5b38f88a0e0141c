/**
 * pᵀ·q for tall p [tokens, m] and q [tokens, n] with a narrow side (a low-rank update's weight gradients: dA = xᵀ·dDown,
 * dB = downᵀ·dY). On cpu and wasm a WebAssembly kernel (engine/kernels/transposed-product.ts) runs it at several times
 * tfjs-wasm's rate for these shapes; on webgpu a matMul with the transpose flag (product.ts); elsewhere (a result
 * narrower than the kernel's tiles) a plain matMul after an explicit transpose of the narrower operand
 * (engine-notes.md: wasm runs transpose flags ~10× slower). No gradient: it is used inside gradient functions.
 */
import { tf, type Tensor2D } from '../tf.js';
import { TRANSPOSED_PRODUCT } from '../kernels/transposed-product.js';
import { productTransposedLeft } from './product.js';
import { hasKernel } from '../kernels/has-kernel.js';

/** The kernel's tiles are eight columns wide: narrower results would run its scalar edge path only. */
const KERNEL_MIN_COLUMNS = 8;

export function transposedProduct(p: Tensor2D, q: Tensor2D): Tensor2D {
  const kernel = hasKernel(TRANSPOSED_PRODUCT);
  if (kernel && q.shape[1] >= KERNEL_MIN_COLUMNS && p.dtype === 'float32' && q.dtype === 'float32') {
    return tf.engine().runKernel(TRANSPOSED_PRODUCT, { p, q }) as Tensor2D;
  }
  if (tf.getBackend() === 'webgpu') return productTransposedLeft(p, q);
  return tf.tidy(() =>
    p.shape[1] <= q.shape[1]
      ? tf.matMul(tf.transpose(p), q)
      : (tf.transpose(tf.matMul(tf.transpose(q), p)) as Tensor2D),
  );
}
