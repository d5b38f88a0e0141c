/**
 * Normals drawn on the device (engine/kernels/webgpu/hashed-normals.ts) are the host's: the same keys give the same
 * values on webgpu and wasm, over several keys per call, at an offset into the draw and over more elements than one
 * dispatch axis holds; no tensor is left behind. A GPU may fuse a multiply and an add and round its square root
 * otherwise, so the check is 4 units in the last place (lavapipe's count of identical values and its largest
 * difference are printed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashedNormals } from '../../src/engine/ops/hashed-normals.js';
import { HASHED_NORMALS } from '../../src/engine/kernels/webgpu/hashed-normals.js';
import { valuesOn } from './values-on.js';

const CALLS = [
  { keys: [1], count: 5, offset: 0 },
  { keys: [0xdeadbeef, 7, 0x80000000], count: 24_576, offset: 3 },
  // 65,535 workgroups of 256 hold 16,776,960 elements: this one takes a second axis.
  { keys: [11, 12], count: 8_500_000, offset: 0 },
];

function* draws() {
  for (const { keys, count, offset } of CALLS) {
    const z = hashedNormals(keys, count, offset);
    assert.deepEqual(z.shape, [keys.length, count]);
    yield z;
  }
}

test('webgpu draws the host’s normals from the same keys', async () => {
  const reference = await valuesOn('wasm', HASHED_NORMALS, draws);
  const candidate = await valuesOn('webgpu', HASHED_NORMALS, draws);
  reference.forEach((expected, i) => {
    const actual = candidate[i]!;
    assert.equal(actual.length, expected.length);
    let identical = 0;
    let worst = 0;
    expected.forEach((value, j) => {
      // Units in the last place of the host's value (2⁻²³ of its power of two).
      const ulps =
        Math.abs(actual[j]! - value) / (2 ** -23 * 2 ** Math.floor(Math.log2(Math.max(Math.abs(value), 2 ** -10))));
      if (value === actual[j]) identical += 1;
      else assert.ok(ulps <= 4, `call ${i}, element ${j}: ${actual[j]} vs ${value}`);
      worst = Math.max(worst, ulps);
    });
    console.log(`call ${i}: ${identical} of ${expected.length} identical, at most ${worst} units in the last place`);
  });
});
