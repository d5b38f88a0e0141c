/**
 * Llama checkpoints against numbers recorded by transformers 5.17 (../shared/models/golden, see its README) and the
 * llama2.c greedy ids of the real pretrained stories260K (../shared/models/stories260K/README.md).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../src/engine/tf.js';
import { loadLlamaFolder } from '../src/models/hf/load-folder.js';
import { HfTokenizer } from '../src/models/tokenizers/hf-tokenizer.js';
import { EVAL_CONTEXT } from '../src/models/forward-context.js';
import { generate } from '../src/generation/generate.js';
import { scoreContinuations, scoreTokenSpans } from '../src/generation/score.js';
import { causalLmLoss } from '../src/train/loss.js';
import { assertRealPositionLogits, goldenBatch, readJson, sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';
import { STORY_AFTER_PROMPT, STORY_FROM_BOS } from './stories-golden.js';

before(useTestBackend);

interface LlamaGolden {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  logits: number[][][];
  greedy_from_first5: number[];
  token_logprobs_row0: number[];
  chat_messages: { role: string; content: string }[];
  chat_rendered: string;
  chat_ids: number[];
}

for (const name of ['llama-tiny', 'llama-tiny-rope-llama3']) {
  const fixture = sharedPath('models', 'golden', name);

  test(`${name}: logits of a left-padded batch match transformers to 1e-4`, { skip: fixture.skip }, () => {
    const golden = readJson<LlamaGolden>(join(fixture.path, 'expected_outputs.json'));
    const model = loadLlamaFolder(fixture.path);
    const batch = goldenBatch(golden);
    const logits = tf.tidy(() => model.lmLogits(batch, EVAL_CONTEXT).arraySync() as number[][][]);
    // transformers' outputs at padded positions are not meaningful, so only the 13 real ones are compared.
    const compared = assertRealPositionLogits(logits, golden.logits, golden.attention_mask);
    assert.equal(compared, 13);
    model.dispose();
  });

  test(
    `${name}: greedy continuation of 12 tokens matches, with and without the KV cache`,
    { skip: fixture.skip },
    async () => {
      const golden = readJson<LlamaGolden>(join(fixture.path, 'expected_outputs.json'));
      const model = loadLlamaFolder(fixture.path);
      const tokenizer = HfTokenizer.fromFolder(fixture.path);
      const prompt = golden.greedy_from_first5.slice(0, 5);
      for (const useCache of [true, false]) {
        // No EOS stop: transformers generated exactly 12 tokens.
        const [row] = await generate(model, tokenizer, [prompt], { maxNewTokens: 12, useCache, eosTokenIds: [] });
        assert.deepEqual([...prompt, ...row!.ids], golden.greedy_from_first5);
      }
      model.dispose();
    },
  );
}

test(
  'llama-tiny: per-token log-probs of row 0 match',
  { skip: sharedPath('models', 'golden', 'llama-tiny').skip },
  async () => {
    const dir = sharedPath('models', 'golden', 'llama-tiny').path;
    const golden = readJson<LlamaGolden>(join(dir, 'expected_outputs.json'));
    const model = loadLlamaFolder(dir);
    const [scored] = await scoreTokenSpans(model, [{ ids: golden.input_ids[0]!, from: 1 }]);
    assert.equal(scored!.tokenLogprobs.length, golden.token_logprobs_row0.length);
    scored!.tokenLogprobs.forEach((value, i) => assert.ok(Math.abs(value - golden.token_logprobs_row0[i]!) < 1e-4));
    model.dispose();
  },
);

test(
  'llama-tiny: chat template renders the recorded string and ids',
  { skip: sharedPath('models', 'golden', 'llama-tiny').skip },
  () => {
    const dir = sharedPath('models', 'golden', 'llama-tiny').path;
    const golden = readJson<LlamaGolden>(join(dir, 'expected_outputs.json'));
    const tokenizer = HfTokenizer.fromFolder(dir);
    const rendered = tokenizer.renderChat(golden.chat_messages, { addGenerationPrompt: true });
    assert.equal(rendered, golden.chat_rendered);
    // The template writes <s> itself, so the ids come without a second BOS.
    assert.deepEqual(tokenizer.encode(rendered, { addBos: false }), golden.chat_ids);
  },
);

test(
  'llama-tiny: training loss, q_proj gradient and total gradient norm match',
  { skip: sharedPath('models', 'golden', 'llama-tiny').skip },
  () => {
    const dir = sharedPath('models', 'golden', 'llama-tiny').path;
    const golden = readJson<{
      input_ids: number[][];
      loss: number;
      grad_q_proj_l0: number[][];
      grad_norm_total: number;
    }>(join(dir, 'expected_grads.json'));
    const model = loadLlamaFolder(dir);
    const variables = model.variables();
    variables.forEach((variable) => (variable.trainable = true));
    const ids = Int32Array.from(golden.input_ids.flat());
    const batch = { batchSize: 1, length: ids.length, ids, mask: new Int32Array(ids.length).fill(1) };
    const before = tf.memory().numTensors;
    const { loss, qGrad, norm } = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => causalLmLoss(model, batch, EVAL_CONTEXT), variables);
      const total = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      // Our q_proj weight is stored [in, out]; transformers' gradient is [out, in].
      const q = tf.transpose(grads[model.layers[0]!.q.weight.name]!);
      return { loss: value.dataSync()[0]!, qGrad: q.arraySync() as number[][], norm: total.dataSync()[0]! };
    });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(Math.abs(loss - golden.loss) < 1e-4, `loss ${loss} vs ${golden.loss}`);
    assert.ok(
      Math.abs(norm - golden.grad_norm_total) < 1e-3 * golden.grad_norm_total,
      `norm ${norm} vs ${golden.grad_norm_total}`,
    );
    golden.grad_q_proj_l0.forEach((row, i) =>
      row.forEach((value, j) => assert.ok(Math.abs(qGrad[i]![j]! - value) < 1e-4, `${i},${j}`)),
    );
    model.dispose();
  },
);

const stories = sharedPath('models', 'stories260K', 'hf');

test('stories260K: "Once upon a time" encodes to the recorded ids', { skip: stories.skip }, () => {
  assert.deepEqual(HfTokenizer.fromFolder(stories.path).encode('Once upon a time'), [1, 403, 407, 261, 378]);
});

test(
  'stories260K: greedy decoding from BOS and from the prompt, batched with left padding, matches llama2.c',
  { skip: stories.skip },
  async () => {
    const model = loadLlamaFolder(stories.path);
    const tokenizer = HfTokenizer.fromFolder(stories.path);
    const before = tf.memory().numTensors;
    const [fromBos, fromPrompt] = await generate(model, tokenizer, [[1], tokenizer.encode('Once upon a time')], {
      maxNewTokens: 40,
    });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(fromBos!.ids, STORY_FROM_BOS);
    assert.deepEqual(fromPrompt!.ids, STORY_AFTER_PROMPT);
    assert.equal(
      fromPrompt!.text,
      ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.',
    );
    // A stop sequence cuts the text where it begins and ends the row.
    const [stopped] = await generate(model, tokenizer, [tokenizer.encode('Once upon a time')], {
      maxNewTokens: 40,
      stopSequences: ['Lily'],
    });
    assert.equal(stopped!.text, ', there was a little girl named ');
    assert.equal(stopped!.stopReason, 'stop-sequence');
    model.dispose();
  },
);

test(
  'stories260K: a continuation is scored with its token count, characters and greediness',
  { skip: stories.skip },
  async () => {
    const model = loadLlamaFolder(stories.path);
    const tokenizer = HfTokenizer.fromFolder(stories.path);
    // ", there was" is the greedy continuation of "Once upon a time" (the golden ids begin 432 383 286); " dog dog dog" is not.
    const [greedy, other] = await scoreContinuations(model, tokenizer, [
      { context: 'Once upon a time', continuation: ', there was' },
      { context: 'Once upon a time', continuation: ' dog dog dog' },
    ]);
    assert.equal(greedy!.isGreedy, true);
    assert.equal(other!.isGreedy, false);
    assert.equal(greedy!.characters, 11);
    assert.equal(other!.characters, 12);
    assert.equal(greedy!.tokens, 3); // 432 383 286, no extra word-boundary piece
    assert.equal(greedy!.tokenLogprobs.length, 3);
    assert.ok(Math.abs(greedy!.logprob - greedy!.tokenLogprobs.reduce((a, b) => a + b, 0)) < 1e-12);
    assert.ok(greedy!.tokenLogprobs.every((value) => value < 0));
    assert.ok(greedy!.logprob > other!.logprob);
    model.dispose();
  },
);
