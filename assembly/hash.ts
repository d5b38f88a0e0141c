/**
 * The counter-based hash of src/engine/counter-hash.ts (its reference in JavaScript; the same in WGSL on webgpu) on
 * four lanes: element i of a draw keyed k has the bits triple32(triple32(i) ^ k). Used for dropout masks (random.ts;
 * attention.ts, whose probabilities are dropped where they are made) and MonteCLoRA's Gaussian noise (random.ts).
 */

/** triple32 on four lanes. */
export function triple32x4(v: v128): v128 {
  let x = v128.xor(v, i32x4.shr_u(v, 17));
  x = i32x4.mul(x, i32x4.splat(0xed5ad4bb));
  x = v128.xor(x, i32x4.shr_u(x, 11));
  x = i32x4.mul(x, i32x4.splat(0xac4c1b51));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x31848bab));
  return v128.xor(x, i32x4.shr_u(x, 14));
}

/** The counter-based bits of four elements: triple32(triple32(i) ^ key) for each index i. */
export function bits4(indices: v128, keys: v128): v128 {
  return triple32x4(v128.xor(triple32x4(indices), keys));
}

/** Four elements of an inverted-dropout mask: `value` where an index's bits are below `threshold`, else 0. */
export function keepMask4(indices: v128, key: u32, threshold: u32, value: f32): v128 {
  return v128.and(i32x4.lt_u(bits4(indices, i32x4.splat(key)), i32x4.splat(threshold)), f32x4.splat(value));
}

/**
 * out[i] = value where the bits of index first + i are below threshold (⌈keep·2³²⌉ < 2³²), else 0, for i < count, a
 * multiple of 4. Indices wrap at 2³², as u32 arithmetic does in JavaScript and WGSL.
 */
export function keepMaskFrom(out: usize, first: u32, count: i32, key: u32, threshold: u32, value: f32): void {
  const keys = i32x4.splat(key);
  const limit = i32x4.splat(threshold);
  const kept = f32x4.splat(value);
  const step = i32x4.splat(4);
  let indices = i32x4.add(i32x4.splat(first), i32x4(0, 1, 2, 3));
  for (let i = 0; i < count; i += 4) {
    v128.store(out + ((<usize>i) << 2), v128.and(i32x4.lt_u(bits4(indices, keys), limit), kept));
    indices = i32x4.add(indices, step);
  }
}
