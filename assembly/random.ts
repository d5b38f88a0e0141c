/**
 * Bulk draws of mceval's generator (src/engine/rng.ts: xoshiro128**, whose single draws stay in JavaScript), for the
 * normal draws of normal.ts and ziggurat.ts; the generator's state is four u32 at `state`, read at the start and
 * written back at the end, so that JavaScript's Rng continues exactly where these draws stopped. And dropout masks by
 * the counter-based hash of src/engine/dropout-bits.ts (its reference in JavaScript; the same in WGSL on webgpu): a
 * training step makes millions of dropout decisions, four at a time here.
 */

/** The next `count` draws, as u32, into `out`. */
export function draws(out: usize, count: i32, state: usize): void {
  let s0 = load<u32>(state);
  let s1 = load<u32>(state, 4);
  let s2 = load<u32>(state, 8);
  let s3 = load<u32>(state, 12);
  for (let i = 0; i < count; i++) {
    store<u32>(out + ((<usize>i) << 2), rotl<u32>(s1 * 5, 7) * 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl<u32>(s3, 11);
  }
  store<u32>(state, s0);
  store<u32>(state, s1, 4);
  store<u32>(state, s2, 8);
  store<u32>(state, s3, 12);
}

/** triple32 (src/engine/dropout-bits.ts) on four lanes. */
function triple32x4(v: v128): v128 {
  let x = v128.xor(v, i32x4.shr_u(v, 17));
  x = i32x4.mul(x, i32x4.splat(0xed5ad4bb));
  x = v128.xor(x, i32x4.shr_u(x, 11));
  x = i32x4.mul(x, i32x4.splat(0xac4c1b51));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x31848bab));
  return v128.xor(x, i32x4.shr_u(x, 14));
}

function triple32(value: u32): u32 {
  let x = value ^ (value >> 17);
  x *= 0xed5ad4bb;
  x ^= x >> 11;
  x *= 0xac4c1b51;
  x ^= x >> 15;
  x *= 0x31848bab;
  return x ^ (x >> 14);
}

/**
 * out[i] = value where triple32(triple32(i) ^ key) < threshold, else 0, for i < count: an inverted-dropout mask by
 * the counter-based hash of src/engine/dropout-bits.ts, with threshold = ⌈keep·2³²⌉ < 2³².
 */
export function hashedKeepMask(out: usize, count: i32, key: u32, threshold: u32, value: f32): void {
  const keys = i32x4.splat(key);
  const limit = i32x4.splat(threshold);
  const kept = f32x4.splat(value);
  const step = i32x4.splat(4);
  let indices = i32x4(0, 1, 2, 3);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const bits = triple32x4(v128.xor(triple32x4(indices), keys));
    v128.store(out + ((<usize>i) << 2), v128.and(i32x4.lt_u(bits, limit), kept));
    indices = i32x4.add(indices, step);
  }
  for (; i < count; i++) {
    store<f32>(out + ((<usize>i) << 2), triple32(triple32(<u32>i) ^ key) < threshold ? value : 0);
  }
}
