/**
 * Bulk draws of mceval's generator (src/engine/rng.ts: xoshiro128**, whose single draws stay in JavaScript), for the
 * normal draws of normal.ts and ziggurat.ts; the generator's state is four u32 at `state`, read at the start and
 * written back at the end, so that JavaScript's Rng continues exactly where these draws stopped. And dropout masks by
 * the counter-based hash of src/engine/counter-hash.ts (its reference in JavaScript; the same in WGSL on webgpu): a
 * training step makes millions of dropout decisions, four at a time here; and standard normals from the same bits
 * (src/engine/hashed-normals.ts, whose float32 reference these equal bit for bit), MonteCLoRA's Gaussian noise.
 */

import { bits4, keepMask4, keepMaskFrom } from './hash';

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

/** Stores the first `count` (< 4) lanes of `v` at `at`: the tail of an array whose length is not a multiple of 4. */
function storeLanes(at: usize, v: v128, count: i32): void {
  if (count > 0) store<f32>(at, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(at, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(at, f32x4.extract_lane(v, 2), 8);
}

/**
 * out[i] = value where triple32(triple32(i) ^ key) < threshold, else 0, for i < count: an inverted-dropout mask by
 * the counter-based hash of src/engine/counter-hash.ts, with threshold = ⌈keep·2³²⌉ < 2³².
 */
export function hashedKeepMask(out: usize, count: i32, key: u32, threshold: u32, value: f32): void {
  const whole = count & ~3;
  keepMaskFrom(out, 0, whole, key, threshold, value);
  if (whole < count) {
    storeLanes(
      out + ((<usize>whole) << 2),
      keepMask4(i32x4.add(i32x4.splat(whole), i32x4(0, 1, 2, 3)), key, threshold, value),
      count - whole,
    );
  }
}

// Cephes logf's and Giles' erfinv constants (src/engine/hashed-normals.ts), demoted to f32 as Math.fround does.
const SQRT_HALF: f32 = 0.7071067811865476;
const LOG_Q1: f32 = -2.1219444e-4;
const LOG_Q2: f32 = 0.693359375;
const SQRT2: f32 = 1.4142135623730951;

/** c0·w⁸ + … + c8, multiplies and adds in float32 (never fused: the values must equal the reference's). */
function poly9(w: v128, c0: f32, c1: f32, c2: f32, c3: f32, c4: f32, c5: f32, c6: f32, c7: f32, c8: f32): v128 {
  let p = f32x4.splat(c0);
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c1));
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c2));
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c3));
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c4));
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c5));
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c6));
  p = f32x4.add(f32x4.mul(p, w), f32x4.splat(c7));
  return f32x4.add(f32x4.mul(p, w), f32x4.splat(c8));
}

/** ln x on four positive normal floats, Cephes logf as in the reference. */
function log4(x: v128): v128 {
  const e0 = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(x, 23), i32x4.splat(126)));
  const m0 = v128.or(v128.and(x, i32x4.splat(0x007fffff)), i32x4.splat(0x3f000000));
  const low = f32x4.lt(m0, f32x4.splat(SQRT_HALF));
  const one = f32x4.splat(1);
  const e = f32x4.sub(e0, v128.and(one, low));
  const m = v128.bitselect(f32x4.sub(f32x4.add(m0, m0), one), f32x4.sub(m0, one), low);
  const z = f32x4.mul(m, m);
  const p = poly9(
    m,
    7.0376836292e-2,
    -1.151461031e-1,
    1.167699874e-1,
    -1.2420140846e-1,
    1.4249322787e-1,
    -1.6668057665e-1,
    2.0000714765e-1,
    -2.4999993993e-1,
    3.3333331174e-1,
  );
  let y = f32x4.mul(f32x4.mul(p, m), z);
  y = f32x4.add(y, f32x4.mul(e, f32x4.splat(LOG_Q1)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(m, y), f32x4.mul(e, f32x4.splat(LOG_Q2)));
}

/** The standard normals that four lanes of bits encode (src/engine/hashed-normals.ts). */
function normals4(bits: v128): v128 {
  const m = v128.and(bits, i32x4.splat(0x7fffffff));
  const high = f32x4.mul(f32x4.convert_i32x4_s(i32x4.shr_u(m, 8)), f32x4.splat(1.1920928955078125e-7));
  const low = f32x4.add(f32x4.convert_i32x4_s(v128.and(m, i32x4.splat(0xff))), f32x4.splat(0.5));
  const t = f32x4.add(high, f32x4.mul(low, f32x4.splat(4.656612873077393e-10)));
  const w = f32x4.neg(log4(f32x4.mul(t, f32x4.sub(f32x4.splat(2), t))));
  const central = poly9(
    f32x4.sub(w, f32x4.splat(2.5)),
    2.81022636e-8,
    3.43273939e-7,
    -3.5233877e-6,
    -4.39150654e-6,
    2.1858087e-4,
    -1.25372503e-3,
    -4.17768164e-3,
    2.46640727e-1,
    1.50140941,
  );
  const central4 = f32x4.lt(w, f32x4.splat(5));
  // All four central (|z| < 2.8) ~98% of the time: the tail's square root and polynomial only when a lane needs them.
  const p = i32x4.all_true(central4) ? central : v128.bitselect(central, tailPolynomial(w), central4);
  const z = f32x4.mul(f32x4.mul(p, f32x4.sub(f32x4.splat(1), t)), f32x4.splat(SQRT2));
  return v128.xor(z, v128.and(bits, i32x4.splat(0x80000000)));
}

/** Giles' tail polynomial in √w − 3, on four lanes. */
function tailPolynomial(w: v128): v128 {
  return poly9(
    f32x4.sub(f32x4.sqrt(w), f32x4.splat(3)),
    -2.00214257e-4,
    1.00950558e-4,
    1.34934322e-3,
    -3.67342844e-3,
    5.73950773e-3,
    -7.6224613e-3,
    9.43887047e-3,
    1.00167406,
    2.83297682,
  );
}

/**
 * out[i] = the standard normal of element offset + i of the draw keyed `key`, for i < count: MonteCLoRA's Gaussian
 * noise by src/engine/hashed-normals.ts, bit for bit.
 */
export function hashedNormals(out: usize, count: i32, key: u32, offset: u32): void {
  const keys = i32x4.splat(key);
  const step = i32x4.splat(4);
  let indices = i32x4.add(i32x4.splat(offset), i32x4(0, 1, 2, 3));
  let i = 0;
  // Two independent vectors per pass: their long dependency chains overlap.
  for (; i + 8 <= count; i += 8) {
    const next = i32x4.add(indices, step);
    const first = normals4(bits4(indices, keys));
    const second = normals4(bits4(next, keys));
    v128.store(out + ((<usize>i) << 2), first);
    v128.store(out + ((<usize>i) << 2), second, 16);
    indices = i32x4.add(next, step);
  }
  for (; i < count; i += 4) {
    const values = normals4(bits4(indices, keys));
    if (i + 4 <= count) v128.store(out + ((<usize>i) << 2), values);
    else storeLanes(out + ((<usize>i) << 2), values, count - i);
    indices = i32x4.add(indices, step);
  }
}
