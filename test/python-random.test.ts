/**
 * PythonRandom draws exactly what CPython's random.Random draws. Every expected value below was printed by
 * Python 3.11.7 (`random.Random(seed)` and the calls named beside each value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PythonRandom } from '../src/tasks/gsm8k/python-random.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('MT19937 seeded as CPython seeds an int: getrandbits', () => {
  const r = new PythonRandom(1234);
  // [r.getrandbits(32) for _ in range(3)], then [r.getrandbits(13) for _ in range(3)]
  assert.deepEqual([r.getrandbits(32), r.getrandbits(32), r.getrandbits(32)], [4150886329, 3342196574, 1892932127]);
  assert.deepEqual([r.getrandbits(13), r.getrandbits(13), r.getrandbits(13)], [957, 61, 742]);
  // random.Random(2**40 + 7).getrandbits(32): a seed of two 32-bit words
  assert.equal(new PythonRandom(2 ** 40 + 7).getrandbits(32), 2635837658);
  // r = random.Random(7); [r._randbelow(1000) for _ in range(5)]
  const below = new PythonRandom(7);
  assert.deepEqual(
    range(5).map(() => below.randbelow(1000)),
    [331, 970, 154, 404, 666],
  );
});

test("sample: both of CPython's algorithms (pool for small populations, set for large)", () => {
  assert.deepEqual(new PythonRandom(0).sample(range(10), 3), [6, 9, 0]);
  assert.deepEqual(new PythonRandom(3).sample(range(10), 5), [3, 8, 2, 7, 4]);
  assert.deepEqual(new PythonRandom(7).sample(range(30), 6), [10, 4, 12, 20, 1, 2]);
  assert.deepEqual(
    new PythonRandom(99).sample(range(100), 20),
    [51, 48, 25, 76, 22, 29, 31, 17, 97, 11, 32, 93, 49, 67, 87, 89, 68, 79, 62, 53],
  );
});

test("lm-eval's GSM8K 5-shot draws: random.Random(1234).sample(train, 5) per test question, in order", () => {
  const r = new PythonRandom(1234);
  const train = range(7473);
  const draws = range(1319).map(() => r.sample(train, 5));
  assert.deepEqual(draws[0], [6374, 3610, 957, 61, 742]);
  assert.deepEqual(draws[1], [7462, 6610, 4769, 286, 5501]);
  assert.deepEqual(draws[1318], [220, 4179, 6064, 5599, 5541]);
  // sum(i * (k + 1) for k, row in enumerate(draws) for i in row)
  assert.equal(
    draws.reduce((sum, row, k) => sum + row.reduce((a, i) => a + i * (k + 1), 0), 0),
    16325011010,
  );
});
