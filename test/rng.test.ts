import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/rng.js';
import { place } from '../src/engine/kernels/wasm-kernels.js';

test('the same seed gives the same numbers; another seed, others', () => {
  assert.deepEqual(new Rng(7).uniformArray(8), new Rng(7).uniformArray(8));
  assert.notDeepEqual(new Rng(7).uniformArray(8), new Rng(8).uniformArray(8));
});

test('forked streams depend on the label and not on draws made before', () => {
  const a = new Rng(1);
  const b = new Rng(1);
  b.uniformArray(100);
  assert.deepEqual(a.fork('x').normalArray(4), b.fork('x').normalArray(4));
  assert.notDeepEqual(a.fork('x').normalArray(4), a.fork('y').normalArray(4));
});

test('uniform lies in [0, 1) and normal has mean ≈ 0 and variance ≈ 1', () => {
  const rng = new Rng(3);
  const u = rng.uniformArray(20000);
  assert.ok(u.every((x) => x >= 0 && x < 1));
  const n = rng.normalArray(20000);
  const mean = n.reduce((s, x) => s + x, 0) / n.length;
  const variance = n.reduce((s, x) => s + (x - mean) ** 2, 0) / n.length;
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
});

test('permutation is a permutation', () => {
  const p = new Rng(4).permutation(50);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
});

test('normalArray gives exactly the normal() calls it stands for, spare value and chunk boundaries included', () => {
  const fast = new Rng(12);
  const slow = new Rng(12);
  // Odd sizes leave a spare value for the next call; 9,001 crosses the generator's 4,096-draw chunks.
  // Scales that are not powers of two, as weight initialisation uses.
  for (const [size, mean, std] of [
    [3, 0, 1],
    [9_001, 0.5, 0.37],
    [1, -1, 0.1],
    [20_000, 0, 0.02],
    // Enough pairs to reach the rarer branches of the logarithm and the angle reduction.
    [400_001, 0, 1],
  ] as const) {
    const expected = Float32Array.from({ length: size }, () => mean + std * slow.normal());
    assert.deepEqual(fast.normalArray(size, mean, std), expected, `size ${size}`);
  }
  assert.equal(fast.normal(), slow.normal());
  assert.equal(fast.uniform(), slow.uniform());
});

test('the WebAssembly logarithm, sine and cosine give the bits of Math.log, Math.sin and Math.cos', () => {
  const { exports } = place([]);
  const logs: number[] = [2 ** -32, 1 - 2 ** -32, 1, 0.5, 0.25, 1 - 2 ** -21, 1 - 2 ** -19, Math.SQRT1_2, 0.7071, 0.99];
  const angles: number[] = [0, 2 ** -30, 2 ** -27, 1e-5, 0.1, Math.PI / 4, (3 * Math.PI) / 4, 2 * Math.PI - 2 ** -30];
  // Each multiple of π/2 below 2π and its neighbours a few ulps away: where the reduction cancels and takes its
  // second and third steps.
  for (let n = 1; n <= 4; n++) {
    const centre = (n * Math.PI) / 2;
    const step = centre * Number.EPSILON;
    for (let k = -4; k <= 4; k++) angles.push(centre + k * step);
  }
  const rng = new Rng(5);
  for (let i = 0; i < 20_000; i++) {
    logs.push(1 - rng.uniform());
    angles.push(2 * Math.PI * rng.uniform());
  }
  for (const x of logs) assert.equal(exports.libmLog(x), Math.log(x), `log(${x})`);
  for (const x of angles.filter((a) => a < 2 * Math.PI)) {
    assert.equal(exports.libmSine(x), Math.sin(x), `sin(${x})`);
    assert.equal(exports.libmCosine(x), Math.cos(x), `cos(${x})`);
  }
});

test('ziggurat normals: seeded, and distributed as Box–Muller normals (two-sample KS, tail fractions)', () => {
  assert.deepEqual(new Rng(3).zigguratNormals(10), new Rng(3).zigguratNormals(10));
  assert.notDeepEqual(new Rng(3).zigguratNormals(10), new Rng(4).zigguratNormals(10));
  // A second call continues the stream.
  const stream = new Rng(9);
  assert.notDeepEqual(stream.zigguratNormals(1_000), stream.zigguratNormals(1_000));
  const n = 200_000;
  const ziggurat = Float64Array.from(new Rng(11).zigguratNormals(n)).sort();
  const reference = Float64Array.from(new Rng(12).normalArray(n)).sort();
  let largest = 0;
  for (let i = 0, j = 0; i < n && j < n;) {
    const x = Math.min(ziggurat[i]!, reference[j]!);
    while (i < n && ziggurat[i]! <= x) i++;
    while (j < n && reference[j]! <= x) j++;
    largest = Math.max(largest, Math.abs(i - j) / n);
  }
  // Critical value at α = 0.001 for two samples of n: 1.95·√(2/n) ≈ 0.0062.
  assert.ok(largest < 0.0062, `KS distance ${largest}`);
  // P(|Z| > t) for t = 1, 2, 3, 3.5: within 4 standard errors (3.5 lies past the ziggurat's tail start, 3.44).
  for (const [t, p] of [
    [1, 0.31731],
    [2, 0.0455],
    [3, 0.0027],
    [3.5, 0.000465],
  ]) {
    const observed = ziggurat.reduce((count, v) => count + (Math.abs(v) > t! ? 1 : 0), 0) / n;
    assert.ok(Math.abs(observed - p!) < 4 * Math.sqrt((p! * (1 - p!)) / n), `P(|Z| > ${t}) = ${observed}`);
  }
});
