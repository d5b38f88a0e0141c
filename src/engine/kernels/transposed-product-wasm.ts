/** Running the WebAssembly transposed product (assembly/products.ts): C = Pᵀ·Q for tall, narrow P and Q. */
import { place, view, write } from './wasm-kernels.js';

/**
 * pᵀ·q for p [tokens, m] and q [tokens, n], as [m, n]: a view of the kernels' memory, to be copied before the next
 * kernel call.
 */
export function transposedProductValues(
  p: Float32Array,
  q: Float32Array,
  tokens: number,
  m: number,
  n: number,
): Float32Array {
  const { exports, offsets } = place([p.length, q.length, m * n]);
  const [pAt, qAt, cAt] = offsets as [number, number, number];
  write(exports, pAt, p);
  write(exports, qAt, q);
  exports.transposedProduct(pAt, qAt, cAt, tokens, m, n);
  return view(exports, cAt, m * n);
}
