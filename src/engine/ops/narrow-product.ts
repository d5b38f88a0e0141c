/**
 * scale · (mask ⊙ x)·W′ for x [rows, inner] and a narrow W′ (W [inner, n], or Wᵀ for W stored [n, inner]): a low-rank
 * layer's x·A and s·dy·Bᵀ, the mask a hashed dropout's. On webgpu one dispatch (kernels/webgpu/narrow-product.ts), the
 * mask made from its hash and the scale applied inside it; elsewhere tfjs ops in the order low-rank-linear.ts always
 * used: the mask's multiplication, the product (product.ts's transposed product for Wᵀ), then the scale's.
 */
import { tf, type Tensor2D } from '../tf.js';
import { hasKernel } from '../kernels/has-kernel.js';
import {
  NARROW_PRODUCT,
  NARROW_PRODUCT_MAX_COLUMNS,
  type NarrowProductAttrs,
} from '../kernels/webgpu/narrow-product.js';
import { productTransposedRight } from './product.js';
import { dropoutHash, dropoutMaskOf, kernelTakes, type InputDropout } from './input-dropout.js';

export interface NarrowProductOptions {
  readonly transposeW?: boolean;
  readonly scale?: number;
  /** The dropout on x (its mask shaped like x). */
  readonly dropout?: InputDropout | undefined;
}

export function narrowProduct(x: Tensor2D, w: Tensor2D, options: NarrowProductOptions = {}): Tensor2D {
  const { transposeW = false, scale = 1, dropout } = options;
  const columns = transposeW ? w.shape[0] : w.shape[1];
  if (hasKernel(NARROW_PRODUCT) && columns <= NARROW_PRODUCT_MAX_COLUMNS && kernelTakes(dropout)) {
    const attrs: NarrowProductAttrs = { transposeW, scale, dropout: dropoutHash(dropout) };
    return tf.engine().runKernel(NARROW_PRODUCT, { x, w } as never, attrs as never) as Tensor2D;
  }
  return tf.tidy(() => {
    const dropped = dropout === undefined ? x : (tf.mul(x, dropoutMaskOf(dropout, x.shape)) as Tensor2D);
    const product: Tensor2D = transposeW ? productTransposedRight(dropped, w) : tf.matMul(dropped, w);
    return scale === 1 ? product : (tf.mul(product, scale) as Tensor2D);
  });
}
