/**
 * Standard normal draws in bulk, bit-identical to src/engine/rng.ts's normal(): Box–Muller on pairs of xoshiro128**
 * draws, with the logarithm, sine and cosine V8 computes Math.log, Math.sin and Math.cos with — Sun's fdlibm, as V8's
 * src/base/ieee754.cc adapts it — written out here for the arguments Box–Muller gives them (log on (0, 1], sin and
 * cos on [0, 2π)). Every step is an IEEE double operation in the same order, so each value has the same bits as in
 * JavaScript (test/rng.test.ts checks them against Math.* and normal()). The JavaScript loop spent ~40 ns per value,
 * most of it in the three library calls; this one ~20.
 */
import { draws } from './random';

function high(x: f64): i32 {
  return <i32>(reinterpret<u64>(x) >> 32);
}

function withHigh(x: f64, word: i32): f64 {
  return reinterpret<f64>((reinterpret<u64>(x) & 0xffffffff) | ((<u64>(<u32>word)) << 32));
}

/** fdlibm's __ieee754_log for positive normal x (Box–Muller's 1 − u lies in [2⁻³², 1]). */
function logarithm(x: f64): f64 {
  const ln2Hi = 6.9314718036912381649e-1;
  const ln2Lo = 1.90821492927058770002e-10;
  const lg1 = 6.66666666666673513e-1;
  const lg2 = 3.999999999940941908e-1;
  const lg3 = 2.857142874366239149e-1;
  const lg4 = 2.222219843214978396e-1;
  const lg5 = 1.818357216161805012e-1;
  const lg6 = 1.531383769920937332e-1;
  const lg7 = 1.479819860511658591e-1;
  let hx = high(x);
  let k = (hx >> 20) - 1023;
  hx &= 0x000fffff;
  let i = (hx + 0x95f64) & 0x100000;
  // x or x/2, normalised into [√2/2, √2).
  x = withHigh(x, hx | (i ^ 0x3ff00000));
  k += i >> 20;
  const f = x - 1.0;
  if ((0x000fffff & (2 + hx)) < 3) {
    // |f| < 2⁻²⁰
    if (f == 0) {
      if (k == 0) return 0;
      const dk = <f64>k;
      return dk * ln2Hi + dk * ln2Lo;
    }
    const r = f * f * (0.5 - 0.3333333333333333 * f);
    if (k == 0) return f - r;
    const dk = <f64>k;
    return dk * ln2Hi - (r - dk * ln2Lo - f);
  }
  const s = f / (2.0 + f);
  const dk = <f64>k;
  const z = s * s;
  i = hx - 0x6147a;
  const w = z * z;
  const j = 0x6b851 - hx;
  const t1 = w * (lg2 + w * (lg4 + w * lg6));
  const t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
  i |= j;
  const r = t2 + t1;
  if (i > 0) {
    const hfsq = 0.5 * f * f;
    if (k == 0) return f - (hfsq - s * (hfsq + r));
    return dk * ln2Hi - (hfsq - (s * (hfsq + r) + dk * ln2Lo) - f);
  }
  if (k == 0) return f - s * (f - r);
  return dk * ln2Hi - (s * (f - r) - dk * ln2Lo - f);
}

/** fdlibm's __kernel_sin on [−π/4, π/4], y the tail of x; `tail` false when y is known to be 0 (fdlibm's iy = 0). */
function kernelSin(x: f64, y: f64, tail: bool): f64 {
  const s1 = -1.66666666666666324348e-1;
  const s2 = 8.33333333332248946124e-3;
  const s3 = -1.98412698298579493134e-4;
  const s4 = 2.75573137070700676789e-6;
  const s5 = -2.50507602534068634195e-8;
  const s6 = 1.58969099521155010221e-10;
  const ix = high(x) & 0x7fffffff;
  if (ix < 0x3e400000 && <i32>x == 0) return x;
  const z = x * x;
  const v = z * x;
  const r = s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)));
  if (!tail) return x + v * (s1 + z * r);
  return x - (z * (0.5 * y - v * r) - y - v * s1);
}

/** fdlibm's __kernel_cos on [−π/4, π/4], y the tail of x. */
function kernelCos(x: f64, y: f64): f64 {
  const c1 = 4.16666666666666019037e-2;
  const c2 = -1.38888888888741095749e-3;
  const c3 = 2.48015872894767294178e-5;
  const c4 = -2.75573143513906633035e-7;
  const c5 = 2.0875723212981748279e-9;
  const c6 = -1.13596475577881948265e-11;
  const ix = high(x) & 0x7fffffff;
  if (ix < 0x3e400000 && <i32>x == 0) return 1.0;
  const z = x * x;
  const r = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6)))));
  if (ix < 0x3fd33333) return 1.0 - (0.5 * z - (z * r - x * y));
  const qx = ix > 0x3fe90000 ? 0.28125 : reinterpret<f64>((<u64>(<u32>(ix - 0x00200000))) << 32);
  const hz = 0.5 * z - qx;
  const a = 1.0 - qx;
  return a - (hz - (z * r - x * y));
}

/** The high words of n·π/2 for n = 1 … 32 (fdlibm's npio2_hw): where the quick reduction could cancel. */
const NEAR_MULTIPLES = memory.data<i32>([
  0x3ff921fb, 0x400921fb, 0x4012d97c, 0x401921fb, 0x401f6a7a, 0x4022d97c, 0x4025fdbb, 0x402921fb, 0x402c463a,
  0x402f6a7a, 0x4031475c, 0x4032d97c, 0x40346b9c, 0x4035fdbb, 0x40378fdb, 0x403921fb, 0x403ab41b, 0x403c463a,
  0x403dd85a, 0x403f6a7a, 0x40407e4c, 0x4041475c, 0x4042106c, 0x4042d97c, 0x4043a28c, 0x40446b9c, 0x404534ac,
  0x4045fdbb, 0x4046c6cb, 0x40478fdb, 0x404858eb, 0x404921fb,
]);

/** x − n·π/2 as reducedHigh + reducedLow, set by reduce(), which returns n. */
let reducedHigh: f64 = 0;
let reducedLow: f64 = 0;

/** fdlibm's __ieee754_rem_pio2 for |x| ≤ 2¹⁹·π/2 (its small and medium cases; Box–Muller's angles are below 2π). */
function reduce(x: f64): i32 {
  const invPio2 = 6.36619772367581382433e-1;
  const pio2a = 1.57079632673412561417;
  const pio2aTail = 6.07710050650619224932e-11;
  const pio2b = 6.0771005063039659766e-11;
  const pio2bTail = 2.02226624879595063154e-21;
  const pio2c = 2.0222662487111664558e-21;
  const pio2cTail = 8.47842766036889956997e-32;
  const hx = high(x);
  const ix = hx & 0x7fffffff;
  if (ix <= 0x3fe921fb) {
    reducedHigh = x;
    reducedLow = 0;
    return 0;
  }
  if (ix < 0x4002d97c) {
    // |x| < 3π/4: n = ±1.
    if (hx > 0) {
      let z = x - pio2a;
      if (ix != 0x3ff921fb) {
        reducedHigh = z - pio2aTail;
        reducedLow = z - reducedHigh - pio2aTail;
      } else {
        z -= pio2b;
        reducedHigh = z - pio2bTail;
        reducedLow = z - reducedHigh - pio2bTail;
      }
      return 1;
    }
    let z = x + pio2a;
    if (ix != 0x3ff921fb) {
      reducedHigh = z + pio2aTail;
      reducedLow = z - reducedHigh + pio2aTail;
    } else {
      z += pio2b;
      reducedHigh = z + pio2bTail;
      reducedLow = z - reducedHigh + pio2bTail;
    }
    return -1;
  }
  let t = abs<f64>(x);
  const n = <i32>(t * invPio2 + 0.5);
  const fn = <f64>n;
  let r = t - fn * pio2a;
  let w = fn * pio2aTail;
  if (n < 32 && ix != load<i32>(NEAR_MULTIPLES + ((<usize>(n - 1)) << 2))) {
    reducedHigh = r - w;
  } else {
    const j = ix >> 20;
    reducedHigh = r - w;
    let i = j - ((high(reducedHigh) >> 20) & 0x7ff);
    if (i > 16) {
      t = r;
      w = fn * pio2b;
      r = t - w;
      w = fn * pio2bTail - (t - r - w);
      reducedHigh = r - w;
      i = j - ((high(reducedHigh) >> 20) & 0x7ff);
      if (i > 49) {
        t = r;
        w = fn * pio2c;
        r = t - w;
        w = fn * pio2cTail - (t - r - w);
        reducedHigh = r - w;
      }
    }
  }
  reducedLow = r - reducedHigh - w;
  if (hx < 0) {
    reducedHigh = -reducedHigh;
    reducedLow = -reducedLow;
    return -n;
  }
  return n;
}

/** sin(x) and cos(x) as V8's Math.sin and Math.cos give them, from one reduction; sin is left in `sine`. */
let sine: f64 = 0;

function cosineAndSine(x: f64): f64 {
  if ((high(x) & 0x7fffffff) <= 0x3fe921fb) {
    sine = kernelSin(x, 0, false);
    return kernelCos(x, 0);
  }
  const n = reduce(x) & 3;
  const s = kernelSin(reducedHigh, reducedLow, true);
  const c = kernelCos(reducedHigh, reducedLow);
  sine = n == 0 ? s : n == 1 ? c : n == 2 ? -s : -c;
  return n == 0 ? c : n == 1 ? -s : n == 2 ? -c : s;
}

/**
 * `count` values mean + std·normal() as f32 into `out`, which has room for count + 1 values: the 2·⌈count/2⌉ draws of
 * the generator (state: four u32 at `state`, advanced past them) are written there first and each pair is replaced
 * by its two normals. Returns the unused second value of the last pair when count is odd (the spare that normal()
 * keeps), else 0.
 */
export function normals(out: usize, count: i32, state: usize, mean: f64, std: f64): f64 {
  const pairs = (count + 1) >> 1;
  draws(out, 2 * pairs, state);
  let spare: f64 = 0;
  for (let i = 0; i < count; i += 2) {
    const at = out + ((<usize>i) << 2);
    const radius = Math.sqrt(-2 * logarithm(1 - <f64>load<u32>(at) / 4294967296));
    const angle = 2 * Math.PI * (<f64>load<u32>(at, 4) / 4294967296);
    const cosine = cosineAndSine(angle);
    store<f32>(at, <f32>(mean + std * (radius * cosine)));
    if (i + 1 < count) store<f32>(at, <f32>(mean + std * (radius * sine)), 4);
    else spare = radius * sine;
  }
  return spare;
}

/** Math.log, Math.sin and Math.cos as this file computes them, for tests (sin and cos on [0, 2⁹·π/2] only). */
export function libmLog(x: f64): f64 {
  return logarithm(x);
}

export function libmCosine(x: f64): f64 {
  return cosineAndSine(x);
}

export function libmSine(x: f64): f64 {
  cosineAndSine(x);
  return sine;
}
