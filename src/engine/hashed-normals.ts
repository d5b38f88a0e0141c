/**
 * Standard normals from counter-based bits (counter-hash.ts): element i of a draw keyed k is the normal quantile of
 * the uniform that triple32(triple32(i) ^ k) encodes, so a GPU draws MonteCLoRA's Gaussian noise on the device (one
 * kernel, nothing uploaded) and the host draws the same values for cpu and wasm. Before, the host drew N·d_in·r
 * normals per layer and step by the ziggurat method and uploaded them: for builtin:medium 2.75 M values (11 MB), 16–70
 * ms of host time a step on these machines.
 *
 * From the bits b: the top bit is the sign, the other 31 (m) give t = (m + ½)/2³¹ ∈ (0, 1], rounded to float32 from
 * its two exact parts (m's top 23 bits, then its low 8 and the half) — the uniform's distance from the nearer end of
 * (0, 1), so that 1 − x² = t(2 − t) for x = 2u − 1 keeps its precision in the tails (|z| up to 6.4) — and
 * z = ±√2 · erfinv(1 − t), with erfinv by Giles' single-precision approximation ("Approximating the erfinv
 * function", GPU Computing Gems Jade Edition, 2011: a degree-8 polynomial in w − 2.5 for w = −ln(1 − x²) < 5, in
 * √w − 3 beyond) and the logarithm by Cephes' logf (Moshier: frexp, a degree-8 polynomial on [√½ − 1, √2 − 1]), both
 * with plain float32 multiplies and adds — no library log, whose results differ between platforms and GPUs — so the
 * WebAssembly loop (assembly/random.ts) gives this reference's values bit for bit and a GPU's within a few units in
 * the last place (a GPU may fuse a multiply and an add, and its square root need not be correctly rounded).
 * float32 throughout here by Math.fround after every operation.
 */
import { counterBits } from './counter-hash.js';

const f = Math.fround;

/** Cephes logf's constants, as float32: √½, the polynomial's p0…p8, and ln 2 split as q2 + q1 (q2 exact in few bits). */
export const LOG_CONSTANTS = {
  sqrtHalf: f(Math.SQRT1_2),
  poly: [
    7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
    2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
  ].map(f),
  q1: f(-2.1219444e-4),
  q2: f(0.693359375),
};

/** Giles' erfinv polynomials, highest degree first: in w − 2.5 (central) and √w − 3 (tails). */
export const ERFINV_CONSTANTS = {
  central: [
    2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 2.1858087e-4, -1.25372503e-3, -4.17768164e-3,
    2.46640727e-1, 1.50140941,
  ].map(f),
  tail: [
    -2.00214257e-4, 1.00950558e-4, 1.34934322e-3, -3.67342844e-3, 5.73950773e-3, -7.6224613e-3, 9.43887047e-3,
    1.00167406, 2.83297682,
  ].map(f),
  sqrt2: f(Math.SQRT2),
};

const bitsView = new DataView(new ArrayBuffer(4));

/** ln x for a positive normal float32, by Cephes logf in float32. */
export function logFloat32(x: number): number {
  bitsView.setFloat32(0, x);
  const bits = bitsView.getUint32(0);
  let e = ((bits >>> 23) & 0xff) - 126;
  bitsView.setUint32(0, (bits & 0x007fffff) | 0x3f000000);
  let m = bitsView.getFloat32(0); // x = m·2^e, m ∈ [0.5, 1)
  if (m < LOG_CONSTANTS.sqrtHalf) {
    e -= 1;
    m = f(f(m + m) - 1);
  } else m = f(m - 1);
  const z = f(m * m);
  let y = LOG_CONSTANTS.poly[0]!;
  for (const c of LOG_CONSTANTS.poly.slice(1)) y = f(f(y * m) + c);
  y = f(f(y * m) * z);
  y = f(y + f(e * LOG_CONSTANTS.q1));
  y = f(y - f(z * 0.5));
  return f(f(m + y) + f(e * LOG_CONSTANTS.q2));
}

function polynomial(coefficients: readonly number[], w: number): number {
  let p = coefficients[0]!;
  for (const c of coefficients.slice(1)) p = f(f(p * w) + c);
  return p;
}

/** The standard normal that 32 bits encode (above). */
export function normalFromBits(bits: number): number {
  const m = bits & 0x7fffffff;
  const t = f((m >>> 8) * 2 ** -23 + ((m & 0xff) + 0.5) * 2 ** -31);
  const w = -logFloat32(f(t * f(2 - t)));
  const p =
    w < 5
      ? polynomial(ERFINV_CONSTANTS.central, f(w - 2.5))
      : polynomial(ERFINV_CONSTANTS.tail, f(f(Math.sqrt(w)) - 3));
  const z = f(f(p * f(1 - t)) * ERFINV_CONSTANTS.sqrt2);
  return bits >>> 31 === 1 ? -z : z;
}

/** Elements offset … offset + count − 1 of the draw keyed `key`, one at a time: the reference for the fast versions. */
export function hashedNormalsReference(key: number, offset: number, count: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => normalFromBits(counterBits(key, offset + i)));
}
