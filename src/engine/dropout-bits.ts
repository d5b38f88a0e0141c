/**
 * The bits behind a dropout mask, by a counter-based hash rather than a stream: element i of the mask drawn with key
 * k is kept when triple32(triple32(i) ^ k) < ⌈keep·2³²⌉. Any element can be computed on its own, so a GPU makes the
 * mask where it is used (a kernel per mask, nothing uploaded) and the host makes the same one (a WebAssembly loop),
 * bit for bit: the same seed gives the same mask on every backend. A stream generator had the host draw every
 * element and upload the mask, hundreds of MB per step for a GPU-sized model.
 *
 * triple32 is Chris Wellons' 32-bit integer hash from "Prospecting for Hash Functions" (nullprogram.com, 2018; public
 * domain), the lowest-bias one his search found. The key is the hash of a draw from the run's seeded generator, one
 * draw per mask, so masks of different layers and steps are unrelated.
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

/** The key of a mask, from a u32 drawn for it. */
export function maskKey(draw: number): number {
  return triple32((draw ^ 0x9e3779b9) >>> 0);
}

/** Element i's bits under `key`. */
export function keepBits(key: number, index: number): number {
  return triple32((triple32(index) ^ key) >>> 0);
}

/** ⌈keep·2³²⌉: an element is kept when its bits are below it (2³² when every element is kept). */
export function keepThreshold(keep: number): number {
  return Math.min(Math.ceil(keep * 4294967296), 4294967296);
}

/** The mask in JavaScript, one element at a time: the reference for the WebAssembly and WGSL versions. */
export function keepMaskReference(key: number, threshold: number, value: number, size: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => (keepBits(key, i) < threshold ? value : 0));
}
