import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Tensor, type Tensor2D } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { rowCrossEntropy } from '../src/engine/ops/cross-entropy.js';
import { chunkedHeadCrossEntropy, headChunkRows, rowChunks } from '../src/engine/ops/head-cross-entropy.js';
import { BUILTIN_MODELS } from '../src/models/builtin.js';
import { randomWeightInit } from '../src/models/init.js';
import { LlamaModel } from '../src/models/llama/model.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { loraMethod } from '../src/peft/lora/index.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { scoreTokenSpans } from '../src/generation/score.js';
import { causalLmLoss, paddedTargets, shapeFixedCausalLmLoss, targetMask } from '../src/train/loss.js';
import { maxAbsDifference, onEachBackend, withEnv } from './helpers.js';

/** Runs `body` with MCEVAL_HEAD_CHUNK_ELEMENTS set to `elements` (unset when undefined), then restores it. */
function withChunkElements<T>(elements: number | undefined, body: () => T | Promise<T>): Promise<T> {
  return withEnv('MCEVAL_HEAD_CHUNK_ELEMENTS', elements === undefined ? undefined : String(elements), body);
}

test('headChunkRows: 2^24 logits per chunk by default, MCEVAL_HEAD_CHUNK_ELEMENTS otherwise, one row at least', async () => {
  await withChunkElements(undefined, () => {
    assert.equal(headChunkRows(128_256), 130);
    assert.equal(headChunkRows(32_000), 524);
  });
  await withChunkElements(1000, () => {
    assert.equal(headChunkRows(259), 3);
    assert.equal(headChunkRows(5000), 1);
  });
  for (const bad of [Number.NaN, 0, -5])
    await withChunkElements(bad, () =>
      assert.throws(() => headChunkRows(32_000), /^UserError: MCEVAL_HEAD_CHUNK_ELEMENTS=.* is not a number of logits/),
    );
  assert.deepEqual(rowChunks(10, 4), [
    [0, 4],
    [4, 4],
    [8, 2],
  ]);
  assert.deepEqual(rowChunks(3, 8), [[0, 3]]);
});

onEachBackend(() => {
  // Rows, hidden size and vocabulary; chunks of 3 leave a last chunk of one row.
  const [N, H, V] = [10, 8, 37];
  for (const vocabFirst of [true, false])
    for (const trainable of [false, true]) {
      const layout = vocabFirst ? 'tied [vocab, hidden]' : 'lm_head [hidden, vocab]';
      const weightKind = trainable ? 'trainable' : 'frozen';
      test(`chunkedHeadCrossEntropy equals the unchunked loss and gradients (${layout}, ${weightKind})`, () => {
        const rng = new Rng(21);
        const labels = Array.from({ length: N }, () => rng.integer(V));
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const hidden = tf.tensor2d(rng.normalArray(N * H), [N, H]);
          const weight = tf.tensor2d(rng.normalArray(V * H), vocabFirst ? [V, H] : [H, V]);
          // Per-row upstream weights, so each row's gradient is checked with its own scale.
          const upstream = tf.tensor1d(Array.from({ length: N }, (_, i) => 0.5 + i / N));
          const reference = (h: Tensor, w: Tensor) =>
            tf.sum(
              tf.mul(rowCrossEntropy(tf.matMul(h as Tensor2D, w as Tensor2D, false, vocabFirst), labels), upstream),
            );
          const expectedValue = rowCrossEntropy(tf.matMul(hidden, weight, false, vocabFirst), labels).dataSync();
          const expected = tf.grads(reference)([hidden, weight]);
          for (const chunkRows of [1, 3, 4, N, 64]) {
            const chunked = (h: Tensor2D, w: Tensor2D) =>
              chunkedHeadCrossEntropy(h, { weight: w, vocabFirst, trainable }, labels, chunkRows);
            const value = chunked(hidden, weight).dataSync();
            assert.ok(maxAbsDifference(value, expectedValue) < 1e-5, `value, chunks of ${chunkRows}`);
            const grads = trainable
              ? tf.grads((h: Tensor, w: Tensor) => tf.sum(tf.mul(chunked(h as Tensor2D, w as Tensor2D), upstream)))([
                  hidden,
                  weight,
                ])
              : tf.grads((h: Tensor) => tf.sum(tf.mul(chunked(h as Tensor2D, weight), upstream)))([hidden]);
            grads.forEach((grad: Tensor, i) => {
              const want = expected[i]!.dataSync();
              const scale = Math.max(...Array.from(want, Math.abs));
              assert.ok(
                maxAbsDifference(grad.dataSync(), want) < 1e-5 * scale,
                `gradient ${i}, chunks of ${chunkRows}`,
              );
            });
          }
        });
        assert.equal(tf.memory().numTensors, before);
      });
    }

  // builtin:tiny's architecture; `head` says how its LM head is made.
  type HeadCase =
    'tied, frozen' | 'own lm_head, frozen' | 'own lm_head with LoRA' | 'tied, trainable' | 'own, trainable';
  function model(head: HeadCase) {
    const tied = head.startsWith('tied');
    const config = { ...BUILTIN_MODELS['tiny']!.config, tieWordEmbeddings: tied };
    const llama = new LlamaModel(config, randomWeightInit(new Rng(4), 0.3));
    const targets = head === 'own lm_head with LoRA' ? ['q_proj', 'lm_head'] : ['q_proj'];
    const adapter = loraMethod.apply(
      llama,
      parseLoraConfig({ r: 4, alpha: 8, dropout: 0, targetModules: targets }, 't'),
      new Rng(5),
    );
    const rng = new Rng(6);
    // LoRA's B starts at zero, which would leave the adapter out of the logits: give every adapter weight random values.
    const parameters = adapter.groups.flatMap((group) => group.variables);
    parameters.forEach((v) => tf.tidy(() => v.assign(tf.mul(tf.tensor(rng.normalArray(v.size), v.shape), 0.1))));
    if (head.endsWith('trainable')) {
      const weight = tied ? llama.embedTokens : llama.lmHead!.weight;
      weight.trainable = true;
      parameters.push(weight);
    }
    return { llama, adapter, parameters };
  }

  const rows = [
    { ids: [1, 40, 41, 42, 43, 44, 45, 46, 47], targetStart: 2 },
    { ids: [1, 50, 51, 52], targetStart: 1 },
    { ids: [1, 60, 61, 62, 63, 64, 65], targetStart: 3 },
  ];
  const heads: HeadCase[] = [
    'tied, frozen',
    'own lm_head, frozen',
    'own lm_head with LoRA',
    'tied, trainable',
    'own, trainable',
  ];
  for (const head of heads)
    test(`causalLmLoss with the head in chunks of 2 rows equals it unchunked (${head})`, async () => {
      const { llama, adapter, parameters } = model(head);
      const batch = padBatch(
        rows.map((row) => row.ids),
        0,
      );
      const mask = targetMask(batch, rows);
      const V = llama.config.vocabSize;
      const lossAndGrads = () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => causalLmLoss(llama, batch, EVAL_CONTEXT, mask), parameters);
          return [value.dataSync()[0]!, parameters.map((p) => (grads[p.name] as Tensor).dataSync())] as const;
        });
      const before = tf.memory().numTensors;
      const [expectedLoss, expectedGrads] = await withChunkElements(undefined, lossAndGrads);
      const [loss, grads] = await withChunkElements(2 * V, lossAndGrads);
      assert.equal(tf.memory().numTensors, before);
      assert.ok(Math.abs(loss - expectedLoss) < 1e-5, `${loss} vs ${expectedLoss}`);
      parameters.forEach((p, i) => {
        const scale = Math.max(...Array.from(expectedGrads[i]!, Math.abs));
        assert.ok(scale > 0, `${p.name} has a gradient`);
        assert.ok(maxAbsDifference(grads[i]!, expectedGrads[i]!) < 1e-4 * scale, p.name);
      });
      adapter.dispose();
      llama.dispose();
    });

  for (const head of ['tied, frozen', 'own lm_head with LoRA'] as const)
    test(`scoreTokenSpans with the head in chunks of 3 rows equals it unchunked (${head})`, async () => {
      const { llama, adapter } = model(head);
      const sequences = rows.map((row) => ({ ids: row.ids, from: row.targetStart }));
      const before = tf.memory().numTensors;
      const expected = await withChunkElements(undefined, () => scoreTokenSpans(llama, sequences));
      const scored = await withChunkElements(3 * llama.config.vocabSize, () => scoreTokenSpans(llama, sequences));
      assert.equal(tf.memory().numTensors, before);
      scored.forEach((score, i) => {
        assert.equal(score.isGreedy, expected[i]!.isGreedy);
        assert.ok(maxAbsDifference(score.tokenLogprobs, expected[i]!.tokenLogprobs) < 1e-6);
      });
      adapter.dispose();
      llama.dispose();
    });

  for (const head of ['tied, frozen', 'own lm_head with LoRA', 'own, trainable'] as const)
    test(`shapeFixedCausalLmLoss (every position, weighted) equals causalLmLoss, whole and in chunks (${head})`, async () => {
      const { llama, adapter, parameters } = model(head);
      const batch = padBatch(
        rows.map((row) => row.ids),
        0,
        { rule: { multipleOf: 4 } },
      );
      const mask = targetMask(batch, rows);
      const lossAndGrads = (loss: typeof causalLmLoss) => () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => loss(llama, batch, EVAL_CONTEXT, mask), parameters);
          return [value.dataSync()[0]!, parameters.map((p) => (grads[p.name] as Tensor).dataSync())] as const;
        });
      const before = tf.memory().numTensors;
      const [expectedLoss, expectedGrads] = await withChunkElements(undefined, lossAndGrads(causalLmLoss));
      // 3 rows of 12 positions: 33 rows to the head, where the counted targets are 7 + 3 + 4.
      for (const elements of [undefined, 5 * llama.config.vocabSize]) {
        const [loss, grads] = await withChunkElements(elements, lossAndGrads(shapeFixedCausalLmLoss));
        assert.ok(Math.abs(loss - expectedLoss) < 1e-6 * Math.abs(expectedLoss), `${loss} vs ${expectedLoss}`);
        parameters.forEach((p, i) => {
          const scale = Math.max(...Array.from(expectedGrads[i]!, Math.abs));
          assert.ok(scale > 0, `${p.name} has a gradient`);
          assert.ok(maxAbsDifference(grads[i]!, expectedGrads[i]!) < 1e-5 * scale, `${p.name}, chunk ${elements}`);
        });
      }
      assert.equal(tf.memory().numTensors, before);
      adapter.dispose();
      llama.dispose();
    });
});

test("paddedTargets: the counted targets, then every other position's row, distinct, weighted 0", () => {
  // Two rows of 4 positions, the second two tokens long; targets from position 2 of the first row on.
  const ids = Int32Array.from([1, 5, 6, 7, 1, 8, 0, 0]);
  const mask = Int32Array.from([1, 1, 1, 1, 1, 1, 0, 0]);
  const targets = Int32Array.from([0, 0, 1, 1, 0, 1, 0, 0]);
  const padded = paddedTargets(2, 4, ids, mask, targets);
  // Counted: (0 → 6), (1 → 7), (4 → 8); then positions 0, 5 and 6 of the 2 × 3 that could count.
  assert.deepEqual(padded.rows, [1, 2, 4, 0, 5, 6]);
  assert.deepEqual(padded.targets, [6, 7, 8, 0, 0, 0]);
  assert.deepEqual(Array.from(padded.weights), [1 / 3, 1 / 3, 1 / 3, 0, 0, 0].map(Math.fround));
});
