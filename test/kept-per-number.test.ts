/** keptPerNumber (engine/kept-per-number.ts): each number's value made once, and each number's kept apart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptPerNumber } from '../src/engine/kept-per-number.js';

test('keptPerNumber makes a number’s value once and keeps each number’s apart', () => {
  const counts: number[] = [];
  const fields = keptPerNumber((n) => {
    counts.push(n);
    return `f${n}`;
  });
  assert.deepEqual([fields(2), fields(3), fields(2), fields(3)], ['f2', 'f3', 'f2', 'f3']);
  assert.deepEqual(counts, [2, 3]);
});
