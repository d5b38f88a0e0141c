import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/rng.js';

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

test('keepMask draws exactly what uniform() would, and leaves the generator where uniform() would', () => {
  const fast = new Rng(11);
  const slow = new Rng(11);
  const mask = fast.keepMask(10_001, 0.95, 1 / 0.95);
  const expected = Float32Array.from({ length: 10_001 }, () => (slow.uniform() < 0.95 ? 1 / 0.95 : 0));
  assert.deepEqual(mask, expected);
  assert.ok(mask.some((value) => value === 0) && mask.some((value) => value > 1));
  assert.equal(fast.uniform(), slow.uniform());
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
  ] as const) {
    const expected = Float32Array.from({ length: size }, () => mean + std * slow.normal());
    assert.deepEqual(fast.normalArray(size, mean, std), expected, `size ${size}`);
  }
  assert.equal(fast.normal(), slow.normal());
  assert.equal(fast.uniform(), slow.uniform());
});
