/**
 * Evaluation batches its sequences longest first (models/tokenizers/padding.ts's longestFirst, lm-eval's order), so
 * that a batch pads little; the results still come back in the order given. Scoring spans and classifying examples:
 * each result equals that of the sequence scored alone (within 1e-5: float32 sums over another batch shape), in
 * the given order, with lengths that put the longest in the middle and batches that split them unevenly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longestFirst, longestFirstBatches } from '../src/models/tokenizers/padding.js';
import { initEngine } from '../src/engine/backends.js';
import { loadModel } from '../src/models/load.js';
import { scoreTokenSpans } from '../src/generation/score.js';
import { classLogProbabilities } from '../src/evaluation/classification.js';
import { Rng } from '../src/engine/rng.js';
import { tf } from '../src/engine/tf.js';

test('longestFirst: longest first, ties in their given order', () => {
  assert.deepEqual(longestFirst([3, 9, 1, 9, 4]), [1, 3, 4, 0, 2]);
  assert.deepEqual(longestFirst([]), []);
  assert.deepEqual(longestFirst([2, 2, 2]), [0, 1, 2]);
});

test('longestFirstBatches: batches of at most the size, longest first, each item with its index', () => {
  const items = [3, 9, 1, 9, 4].map((length, n) => ({ ids: new Array<number>(length).fill(n) }));
  const batches = longestFirstBatches(items, 2);
  assert.deepEqual(
    batches.map((batch) => batch.indices),
    [[1, 3], [4, 0], [2]],
  );
  for (const batch of batches)
    assert.deepEqual(
      batch.items,
      batch.indices.map((index) => items[index]),
    );
  assert.deepEqual(longestFirstBatches([], 4), []);
  assert.equal(longestFirstBatches(items, 8).length, 1);
});

const LENGTHS = [5, 12, 30, 7, 30, 2, 19];

function sequences(vocab: number): { ids: number[]; from: number }[] {
  const rng = new Rng(4);
  return LENGTHS.map((length) => ({
    ids: Array.from({ length }, () => 1 + rng.integer(vocab - 1)),
    from: Math.max(1, length - 3),
  }));
}

test('scored spans come back in the order given, each as if scored alone', async () => {
  await initEngine('wasm');
  const before = tf.memory().numTensors;
  const { model } = loadModel('builtin:tiny');
  const given = sequences(model.config.vocabSize);
  const batched = await scoreTokenSpans(model, given, 3);
  for (const [i, sequence] of given.entries()) {
    const [alone] = await scoreTokenSpans(model, [sequence], 1);
    assert.equal(batched[i]!.tokenLogprobs.length, alone!.tokenLogprobs.length, `sequence ${i}`);
    batched[i]!.tokenLogprobs.forEach((value, t) =>
      assert.ok(Math.abs(value - alone!.tokenLogprobs[t]!) < 1e-5, `sequence ${i}, token ${t}`),
    );
    assert.equal(batched[i]!.isGreedy, alone!.isGreedy);
  }
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('classified examples come back in the order given, each as if classified alone', async () => {
  await initEngine('wasm');
  const before = tf.memory().numTensors;
  const { model } = loadModel('builtin:tiny');
  model.addClassificationHead(3);
  const examples = sequences(model.config.vocabSize).map((sequence, i) => ({ ids: sequence.ids, label: i % 3 }));
  const batched = await classLogProbabilities(model, examples, 3);
  for (const [i, example] of examples.entries()) {
    const [alone] = await classLogProbabilities(model, [example], 1);
    batched[i]!.forEach((value, c) => assert.ok(Math.abs(value - alone![c]!) < 1e-5, `example ${i}, class ${c}`));
  }
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});
