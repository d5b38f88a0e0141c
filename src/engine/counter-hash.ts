/**
 * Random bits by a counter-based hash rather than a stream: element i of a draw keyed k has the bits
 * triple32(triple32(i) ^ k). Any element can be computed on its own, so a GPU makes a draw where it is used (one
 * kernel, nothing uploaded) and the host makes the same one (a WebAssembly loop): the same seed gives the same bits
 * on every backend. Dropout masks (dropout-bits.ts) and MonteCLoRA's Gaussian noise (hashed-normals.ts) are drawn so;
 * a stream generator had the host draw every element and upload it, hundreds of MB per step for a GPU-sized model.
 *
 * triple32 is Chris Wellons' 32-bit integer hash from "Prospecting for Hash Functions" (nullprogram.com, 2018; public
 * domain), the lowest-bias one his search found. The key is the hash of a draw from the run's seeded generator, one
 * draw per mask or noise array, so draws of different layers and steps are unrelated.
 */

/** triple32: three xorshift-multiply rounds on a u32. */
export function triple32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 17;
  x = Math.imul(x, 0xed5ad4bb) >>> 0;
  x ^= x >>> 11;
  x = Math.imul(x, 0xac4c1b51) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x31848bab) >>> 0;
  x ^= x >>> 14;
  return x >>> 0;
}

/** The key of a draw, from a u32 drawn for it. */
export function drawKey(draw: number): number {
  return triple32((draw ^ 0x9e3779b9) >>> 0);
}

/** Element i's bits under `key`. */
export function counterBits(key: number, index: number): number {
  return triple32((triple32(index) ^ key) >>> 0);
}
