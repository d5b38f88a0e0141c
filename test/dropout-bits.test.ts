/**
 * The counter-based dropout hash (engine/dropout-bits.ts) and its WebAssembly version (assembly/random.ts). triple32's
 * values are the published C function's (Chris Wellons, nullprogram.com 2018-07-31) compiled with gcc 12 -O2 and run
 * on the inputs below. The WebAssembly mask equals the JavaScript reference bit for bit (SIMD body and scalar tail);
 * the keep rate is the asked one within 5 standard deviations; masks under different keys agree no more than
 * independent ones would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepMaskReference, keepThreshold } from '../src/engine/dropout-bits.js';
import { counterBits, drawKey, triple32 } from '../src/engine/counter-hash.js';
import { hashedKeepMaskInto } from '../src/engine/kernels/random-wasm.js';

// [input, triple32(input)] from the C reference.
const C_REFERENCE = [
  [0, 0],
  [1, 69681622],
  [2, 4057983209],
  [3, 3237000519],
  [1000, 400571038],
  [123456789, 162129505],
  [0x9e3779b9, 4249023594],
  [0xffffffff, 310335631],
] as const;

test('triple32 gives the published C function’s values', () => {
  for (const [input, expected] of C_REFERENCE) assert.equal(triple32(input), expected, `triple32(${input})`);
});

test('an element’s bits are triple32(triple32(i) ^ key), the key the hash of the draw with the golden ratio', () => {
  assert.equal(drawKey(0x9e3779b9), triple32(0));
  assert.equal(counterBits(drawKey(5), 1000), triple32((400571038 ^ drawKey(5)) >>> 0));
});

test('the threshold is ⌈keep·2³²⌉, 2³² when every element is kept', () => {
  assert.equal(keepThreshold(0.5), 2 ** 31);
  assert.equal(keepThreshold(0.95), Math.ceil(0.95 * 2 ** 32));
  assert.equal(keepThreshold(1), 2 ** 32);
});

test('the WebAssembly mask is the JavaScript reference, bit for bit, at every size', () => {
  for (const size of [0, 1, 3, 4, 5, 1023, 10_001]) {
    for (const [draw, keep] of [
      [7, 0.95],
      [0xdeadbeef, 0.5],
      [0, 0.1],
    ] as const) {
      const key = drawKey(draw);
      const out = new Float32Array(size).fill(-1);
      hashedKeepMaskInto(key, keepThreshold(keep), 1 / keep, out);
      assert.deepEqual(out, keepMaskReference(key, keepThreshold(keep), 1 / keep, size), `size ${size}, key ${key}`);
    }
  }
});

test('the kept fraction is the asked one, and masks under two keys are as alike as independent ones', () => {
  const size = 200_000;
  for (const keep of [0.95, 0.5, 0.1]) {
    const first = new Float32Array(size);
    const second = new Float32Array(size);
    hashedKeepMaskInto(drawKey(1), keepThreshold(keep), 1, first);
    hashedKeepMaskInto(drawKey(2), keepThreshold(keep), 1, second);
    const kept = first.reduce((n, value) => n + value, 0);
    const sigma = Math.sqrt(size * keep * (1 - keep));
    assert.ok(Math.abs(kept - size * keep) < 5 * sigma, `keep ${keep}: ${kept} of ${size}`);
    // Both kept or both dropped: keep² + (1 − keep)² for independent masks.
    const agree = first.reduce((n, value, i) => n + Number(value === second[i]), 0);
    const expected = keep * keep + (1 - keep) * (1 - keep);
    const spread = Math.sqrt(size * expected * (1 - expected));
    assert.ok(Math.abs(agree - size * expected) < 5 * spread, `keep ${keep}: ${agree} agree`);
  }
});
