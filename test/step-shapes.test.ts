import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchShapes } from '../src/train/step-shapes.js';
import { countedTargets, rowTargetCount, targetMask } from '../src/train/loss.js';
import { padBatch } from '../src/models/tokenizers/padding.js';

// Rows of 3 to 20 tokens (row i has 3 + i).
const lengths = Array.from({ length: 18 }, (_, i) => 3 + i);
const rows = lengths.map((_, i) => i);
const cut = (order: readonly number[], size: number) =>
  Array.from({ length: Math.ceil(order.length / size) }, (_, b) => order.slice(b * size, (b + 1) * size));
const distinct = (shapes: readonly string[]) => new Set(shapes).size;

test("each batch's shape: its micro-batches' sizes and padded lengths", () => {
  // Each row alone: 18 lengths; padded to multiples of 4 (4 to 20), 5; of 8 up to the model's 18 positions (8, 16, 18
  // and the rows of 19 and 20 unpadded), 5.
  const single = cut(rows, 1);
  assert.equal(distinct(batchShapes(lengths, single, { multipleOf: 1 }, 1)), 18);
  assert.equal(distinct(batchShapes(lengths, single, { multipleOf: 4 }, 1)), 5);
  assert.equal(distinct(batchShapes(lengths, single, { multipleOf: 8, limit: 18 }, 1)), 5);
  // Batches of 4 in order, padded to the longest, and the short last batch.
  assert.deepEqual(batchShapes(lengths, cut(rows, 4), { multipleOf: 1 }, 1), ['4x6', '4x10', '4x14', '4x18', '2x20']);
  // The same batches in two micro-batches, each padded on its own: one pair of lengths a batch, not every pair of the 5.
  assert.deepEqual(batchShapes(lengths, cut(rows, 4), { multipleOf: 4 }, 2), [
    '2x4 2x8',
    '2x8 2x12',
    '2x12 2x16',
    '2x16 2x20',
    '1x20 1x20',
  ]);
  // A batch of one row is one micro-batch; one of two rows, two.
  assert.deepEqual(batchShapes(lengths, [[4], [17], [0, 1]], { multipleOf: 4 }, 2), ['1x8', '1x20', '1x4 1x4']);
  // A batch of fewer rows padded to the same length is another shape.
  assert.deepEqual(
    batchShapes(
      lengths,
      [
        [0, 1, 2, 3],
        [1, 2, 3],
      ],
      { multipleOf: 1 },
      1,
    ),
    ['4x6', '3x6'],
  );
});

test('with a count of targets per row (a causal-LM loss at the counted targets), each micro-batch carries its sum', () => {
  // Batches of 4x6 and 4x10 padded alike at a multiple of 16; their rows' targets (from token 2 on) differ.
  const targetsOf = (row: number) => rowTargetCount(lengths[row]!, 2);
  assert.deepEqual(batchShapes(lengths, cut(rows.slice(0, 8), 4), { multipleOf: 16 }, 1, targetsOf), [
    '4x16:10',
    '4x16:26',
  ]);
  assert.deepEqual(batchShapes(lengths, [[0, 1, 2, 3]], { multipleOf: 16 }, 2, targetsOf), ['2x16:3 2x16:7']);
});

test("rowTargetCount is countedTargets' count for one right-padded row", () => {
  for (const [length, targetStart] of [
    [1, 0],
    [2, 0],
    [5, 0],
    [5, 1],
    [5, 3],
    [5, 5],
    [5, 9],
  ] as const) {
    const row = { ids: Array.from({ length }, (_, t) => 10 + t), targetStart };
    const batch = padBatch([row.ids], 0, { maxLength: 16, rule: { multipleOf: 8 } });
    const counted = countedTargets(1, batch.length, batch.ids, batch.mask, targetMask(batch, [row]));
    assert.equal(rowTargetCount(length, targetStart), counted.rows.length, `${length} tokens from ${targetStart}`);
  }
});
