/**
 * Standard normals from counter-based bits (engine/hashed-normals.ts) and their WebAssembly version
 * (assembly/random.ts). The expected quantiles are scipy 1.17.1's `-scipy.special.ndtri(t / 2)` (the normal quantile
 * at the tail probability the bits encode, sign from the top bit), with t computed from the bits as the reference
 * does — (m >> 8)·2⁻²³ + ((m & 255) + ½)·2⁻³¹ rounded to float32 — printed in float64 by Python here. Giles'
 * single-precision erfinv is designed for 1 − x ≥ 2⁻²⁴: to |z| = 5.5 the values are within 6e-7 of scipy's; beyond
 * (the last two bits of the 31, 1 value in 26 million) the error grows to 4e-4 of z at the extreme 6.34.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import erfc from '@stdlib/math-base-special-erfc';
import { hashedNormalsReference, logFloat32, normalFromBits } from '../src/engine/hashed-normals.js';
import { counterBits, drawKey } from '../src/engine/counter-hash.js';
import { hashedNormalsInto } from '../src/engine/kernels/random-wasm.js';

// [bits, scipy's quantile] (provenance above).
const SCIPY_QUANTILES = [
  [0x7fffffff, -0.0],
  [0xffffffff, 0.0],
  [0x00000100, 5.294347492361962],
  [0x00012345, 4.140054930152172],
  [0x004b0000, 3.0499468605471565],
  [0x01000000, 2.6600674686174592],
  [0x0a3d70a3, 1.7506860816273644],
  [0x20000000, 1.1503493803760079],
  [0x40000000, 0.6744897501960817],
  [0x5a5a5a5a, 0.3773919202352778],
  [0x66666666, 0.2533470877078726],
  [0x9e3779b9, -1.1848721999418204],
  [0xc0000000, -0.6744897501960817],
  [0xdeadbeef, -0.33228070259302606],
  [0xf0f0f0f0, -0.14798710084044503],
  [0x8000ff00, -4.17045954579793],
] as const;
const SCIPY_EXTREMES = [
  [0x00000000, 6.3379577545537895],
  [0x80000000, -6.3379577545537895],
] as const;

test('the float32 logarithm is within 2 units in the last place of ln x on (0, 1]', () => {
  for (let i = 1; i <= 100_000; i++) {
    const x = Math.fround(i === 100_000 ? 1 : (i / 100_000) ** 7);
    const exact = Math.log(x);
    assert.ok(Math.abs(logFloat32(x) - exact) <= 2 * 2 ** -24 * Math.max(Math.abs(exact), 2 ** -24), `ln ${x}`);
  }
});

test('the normal quantiles match scipy’s to 6e-7 up to |z| = 5.5, to 4e-4 at the extreme 6.34', () => {
  for (const [bits, expected] of SCIPY_QUANTILES) {
    const z = normalFromBits(bits);
    assert.ok(Math.abs(z - expected) <= 6e-7 * Math.max(1, Math.abs(expected)), `bits ${bits}: ${z} vs ${expected}`);
  }
  for (const [bits, expected] of SCIPY_EXTREMES) {
    const z = normalFromBits(bits);
    assert.ok(Math.abs(z - expected) <= 4e-4 * Math.abs(expected), `bits ${bits}: ${z} vs ${expected}`);
  }
});

test('the WebAssembly draw is the JavaScript reference, bit for bit, at every size and offset', () => {
  for (const size of [0, 1, 2, 3, 4, 5, 7, 1023, 100_003]) {
    for (const [draw, offset] of [
      [7, 0],
      [0xdeadbeef, 5],
      [0, 0xfffffff0],
    ] as const) {
      const key = drawKey(draw);
      const out = new Float32Array(size).fill(Number.NaN);
      hashedNormalsInto(key, offset, out);
      assert.deepEqual(out, hashedNormalsReference(key, offset, size), `size ${size}, key ${key}, offset ${offset}`);
    }
  }
  // Element i is its own draw: values of a slice are those of the whole at the slice's offset.
  const whole = hashedNormalsReference(99, 0, 64);
  assert.deepEqual(hashedNormalsReference(99, 17, 20), whole.subarray(17, 37));
  assert.equal(normalFromBits(counterBits(99, 40)), whole[40]);
});

/** Φ(z). */
const normalCdf = (z: number) => 0.5 * erfc(-z / Math.SQRT2);

test('a million draws are standard normal (moments, Kolmogorov–Smirnov) and unrelated across keys and neighbours', () => {
  const n = 1_000_000;
  const first = new Float32Array(n);
  const second = new Float32Array(n);
  hashedNormalsInto(drawKey(1), 0, first);
  hashedNormalsInto(drawKey(2), 0, second);
  const mean = first.reduce((s, z) => s + z, 0) / n;
  const variance = first.reduce((s, z) => s + (z - mean) ** 2, 0) / n;
  const kurtosis = first.reduce((s, z) => s + (z - mean) ** 4, 0) / n / variance ** 2;
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
  assert.ok(Math.abs(kurtosis - 3) < 5 * Math.sqrt(24 / n), `kurtosis ${kurtosis}`);
  // Kolmogorov–Smirnov at the 0.1% level: D < 1.95/√n.
  const sorted = Float64Array.from(first).sort();
  let d = 0;
  sorted.forEach((z, i) => (d = Math.max(d, Math.abs(normalCdf(z) - i / n), Math.abs(normalCdf(z) - (i + 1) / n))));
  assert.ok(d < 1.95 / Math.sqrt(n), `KS distance ${d}`);
  const correlation = (a: Float32Array, b: Float32Array) => a.reduce((s, z, i) => s + z * b[i]!, 0) / a.length;
  assert.ok(Math.abs(correlation(first, second)) < 5 / Math.sqrt(n), 'two keys');
  assert.ok(Math.abs(correlation(first.subarray(1), first.subarray(0, n - 1))) < 5 / Math.sqrt(n), 'neighbours');
});
