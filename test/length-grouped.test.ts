/**
 * fineTune's `groupByLength` order against transformers' own (`get_length_grouped_indices`), recorded by
 * scripts/record-length-grouped.py with transformers 5.18.0 / torch 2.13.0 (fixtures/batching/, provenance inside):
 * given the same shuffle, the same order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { epochBatches, lengthGroupedOrder } from '../src/train/batches.js';
import { paddedLength } from '../src/models/tokenizers/padding.js';
import { Rng } from '../src/engine/rng.js';
import { packagePath } from '../src/paths.js';

interface RecordedCase {
  readonly name: string;
  readonly lengths: number[];
  readonly batch_size: number;
  readonly shuffled: number[];
  readonly order: number[];
}

const recorded = JSON.parse(
  readFileSync(packagePath('fixtures', 'batching', 'length-grouped-transformers.json'), 'utf8'),
) as { provenance: { transformers: string }; cases: RecordedCase[] };

for (const { name, lengths, batch_size, shuffled, order } of recorded.cases) {
  test(`lengthGroupedOrder is transformers' order: ${name}`, () => {
    assert.deepEqual(lengthGroupedOrder(shuffled, lengths, batch_size), order);
  });
}

test('epochBatches groups by length from the shuffle it draws without grouping', () => {
  const lengths = Array.from({ length: 37 }, (_, i) => (i * 7) % 11);
  const plain = epochBatches(37, 4, new Rng(5));
  const grouped = epochBatches(37, 4, new Rng(5), lengths);
  assert.deepEqual(grouped.flat(), lengthGroupedOrder(plain.flat(), lengths, 4));
  assert.deepEqual(
    grouped.map((batch) => batch.length),
    plain.map((batch) => batch.length),
  );
  // The first batch holds a longest row.
  assert.equal(Math.max(...grouped[0]!.map((i) => lengths[i]!)), Math.max(...lengths));
});

test('paddedLength rounds up to the multiple, stops at the limit, and never cuts', () => {
  assert.equal(paddedLength(13, { multipleOf: 8 }), 16);
  assert.equal(paddedLength(16, { multipleOf: 8 }), 16);
  assert.equal(paddedLength(13, { multipleOf: 1 }), 13);
  assert.equal(paddedLength(13, { multipleOf: 64, limit: 40 }), 40);
  assert.equal(paddedLength(50, { multipleOf: 64, limit: 40 }), 50);
});
