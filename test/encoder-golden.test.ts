/** BERT and RoBERTa tokenizers and sequence classifiers against transformers 5.17 / tokenizers 0.23 (../shared/models/golden). */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { tf } from '../src/engine/tf.js';
import { loadEncoderFolder } from '../src/models/hf/load-folder.js';
import { HfTokenizer } from '../src/models/tokenizers/hf-tokenizer.js';
import { longestFirst } from '../src/models/tokenizers/longest-first.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { readJson, sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';

before(useTestBackend);

interface TokenizerGolden {
  single: { text: string; input_ids: number[]; attention_mask: number[] }[];
  pairs: { a: string; b: string; input_ids: number[]; attention_mask: number[] }[];
  batch_padded_trunc16?: { input_ids: number[][]; attention_mask: number[][] };
  decode_first: string;
}

interface OutputsGolden {
  inputs: { input_ids: number[][]; attention_mask: number[][] };
  logits: number[][];
  last_hidden_state_first_token?: number[][];
}

test('longest_first truncation splits a budget as the tokenizers library does (hand-computed)', () => {
  assert.deepEqual(longestFirst(10, 0, 6, false), [6, 0]);
  assert.deepEqual(longestFirst(3, 10, 8, true), [3, 5]); // the shorter fits whole, the longer takes the rest
  assert.deepEqual(longestFirst(10, 3, 8, true), [5, 3]);
  assert.deepEqual(longestFirst(9, 10, 7, true), [3, 4]); // both too long: half each, the extra to the longer
  assert.deepEqual(longestFirst(2, 3, 8, true), [2, 3]);
});

for (const name of ['bert-tiny', 'roberta-tiny']) {
  const fixture = sharedPath('models', 'golden', name);

  test(
    `${name}: singles, pairs, truncated batches and decoding equal the recorded encodings`,
    { skip: fixture.skip },
    () => {
      const golden = readJson<TokenizerGolden>(join(fixture.path, 'expected_tokenizer.json'));
      const tokenizer = HfTokenizer.fromFolder(fixture.path);
      for (const single of golden.single)
        assert.deepEqual(tokenizer.encode(single.text), single.input_ids, single.text);
      for (const pair of golden.pairs)
        assert.deepEqual(tokenizer.encodePair(pair.a, pair.b).ids, pair.input_ids, pair.a);
      if (golden.batch_padded_trunc16 !== undefined) {
        const batch = tokenizer.encodeBatch(
          golden.single.slice(0, 4).map((s) => s.text),
          16,
        );
        assert.deepEqual(Array.from(batch.ids), golden.batch_padded_trunc16.input_ids.flat());
        assert.deepEqual(Array.from(batch.mask), golden.batch_padded_trunc16.attention_mask.flat());
      }
      assert.equal(tokenizer.decode(golden.single[0]!.input_ids), golden.decode_first);
    },
  );

  if (name === 'bert-tiny')
    test(
      `${name}: the tokenizer made from its vocab.txt alone (no tokenizer.json) gives the recorded encodings`,
      { skip: fixture.skip },
      () => {
        const golden = readJson<TokenizerGolden>(join(fixture.path, 'expected_tokenizer.json'));
        // vocab.txt as BERT checkpoints ship it: the WordPiece vocabulary in id order, one token a line.
        const vocab = readJson<{ model: { vocab: Record<string, number> } }>(join(fixture.path, 'tokenizer.json')).model
          .vocab;
        const lines = Object.entries(vocab)
          .sort((a, b) => a[1] - b[1])
          .map(([token]) => token);
        const dir = mkdtempSync(join(tmpdir(), 'mceval-vocab-'));
        try {
          writeFileSync(join(dir, 'vocab.txt'), `${lines.join('\n')}\n`);
          copyFileSync(join(fixture.path, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
          const tokenizer = HfTokenizer.fromFolder(dir);
          for (const single of golden.single)
            assert.deepEqual(tokenizer.encode(single.text), single.input_ids, single.text);
          for (const pair of golden.pairs)
            assert.deepEqual(tokenizer.encodePair(pair.a, pair.b).ids, pair.input_ids, pair.a);
          assert.equal(tokenizer.decode(golden.single[0]!.input_ids), golden.decode_first);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    );

  test(
    `${name}: sequence-classification logits of truncated sentence pairs match to 1e-4`,
    { skip: fixture.skip },
    () => {
      const golden = readJson<OutputsGolden>(join(fixture.path, 'expected_outputs.json'));
      const tokenizer = HfTokenizer.fromFolder(fixture.path);
      const pairs = readJson<TokenizerGolden>(join(fixture.path, 'expected_tokenizer.json')).pairs;
      // The recorded inputs are pairs truncated to 24 tokens with longest_first: our tokenizer must produce them too.
      const batch = tokenizer.encodeBatch(
        pairs.slice(0, 2).map((pair) => [pair.a, pair.b] as const),
        24,
      );
      assert.deepEqual(Array.from(batch.ids), golden.inputs.input_ids.flat());
      assert.deepEqual(Array.from(batch.mask), golden.inputs.attention_mask.flat());
      const model = loadEncoderFolder(fixture.path);
      const before = tf.memory().numTensors;
      // transformers was called with input_ids and attention_mask only, so it used token type 0 everywhere.
      const { tokenTypeIds, ...withoutTypes } = batch;
      assert.equal(tokenTypeIds.length, batch.ids.length);
      const logits = tf.tidy(() => model.classify(withoutTypes, EVAL_CONTEXT).arraySync());
      golden.logits.forEach((row, b) =>
        row.forEach((value, k) => assert.ok(Math.abs(logits[b]![k]! - value) < 1e-4, `${b},${k}`)),
      );
      if (golden.last_hidden_state_first_token !== undefined) {
        const first = tf.tidy(
          () =>
            tf
              .slice(model.hiddenStates(withoutTypes, EVAL_CONTEXT), [0, 0, 0], [-1, 1, -1])
              .arraySync() as number[][][],
        );
        golden.last_hidden_state_first_token.forEach((row, b) =>
          row.forEach((value, k) => assert.ok(Math.abs(first[b]![0]![k]! - value) < 1e-4)),
        );
      }
      assert.equal(tf.memory().numTensors, before);
      model.dispose();
    },
  );
}
