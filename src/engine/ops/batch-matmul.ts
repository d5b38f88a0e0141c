/**
 * A batched product [N, M, K] × [N, K, P] → [N, M, P] whose backward pass uses explicit transposes instead of
 * transpose flags on wasm, whose batched kernel handles them even more slowly than plain operands (product.ts; on
 * webgpu the flags are passed).
 *
 * (Measured here, tfjs-wasm 4.22, 64 × [67,16]·[16,67]: batched 7.0 ms; 64 separate 2D products 1.9 ms, but
 * producing the 64 slices costs 16 ms with unstack and 6 ms with split, so slicing loses overall.)
 */
import type { Tensor3D } from '../tf.js';
import { differentiableProduct } from './product.js';

const product = differentiableProduct<Tensor3D>();

/** a·b for a [N, M, K] and b [N, K, P], differentiable in both. */
export function batchMatMul(a: Tensor3D, b: Tensor3D): Tensor3D {
  return product(a, b);
}
