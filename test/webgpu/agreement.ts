/** Agreement between two backends' values, for the WebGPU kernel tests. */
import assert from 'node:assert/strict';

/** Every value of `actual` within `tolerance` × the largest |expected| of `expected` (float32 sums in another order). */
export function assertAgree(label: string, actual: readonly number[], expected: readonly number[], tolerance: number) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  const worst = Math.max(...actual.map((value, i) => Math.abs(value - expected[i]!)));
  assert.ok(worst <= tolerance * scale, `${label}: differs by up to ${worst} (largest value ${scale})`);
}
