/**
 * GSM8K's chain-of-thought variants as lm-eval's gsm8k_cot and gsm8k_cot_llama build and score them. The expected
 * filter outputs were computed with Python 3's re module running lm-eval's RegexFilter logic (findall, group_select,
 * first non-empty group of a tuple, "[invalid]") on the patterns of gsm8k-cot.yaml and gsm8k-cot-llama.yaml; the
 * exemplar texts are those of Wei et al. (2022), Table 20, as both YAML files list them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { applyRegexFilter } from '../src/evaluation/filters/regex-filter.js';
import { GSM8K_COT_EXEMPLARS } from '../src/tasks/gsm8k/cot-exemplars.js';
import {
  GSM8K_COT_FILTERS,
  GSM8K_COT_LLAMA_FILTERS,
  LLAMA_COT_HISTORY,
  gsm8kCot,
  gsm8kCotLlama,
  gsm8kCotPrompt,
  gsm8kReasoning,
  llamaCotQuestion,
} from '../src/tasks/gsm8k/cot.js';
import { gsm8kFinalAnswer, scoreGsm8k } from '../src/tasks/gsm8k/scoring.js';
import { scoreGsm8kResponses } from '../src/tasks/gsm8k/data.js';
import { sharedPath } from './shared-fixtures.js';

const data = sharedPath('data', 'gsm8k');

test("gsm8k_cot's prompt: the eight exemplars in lm-eval's layout, then the question", () => {
  const parts = gsm8kCotPrompt('How many?').split('\n\n');
  assert.equal(parts.length, 9);
  assert.equal(
    parts[0],
    'Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, ' +
      'there will be 21 trees. How many trees did the grove workers plant today?\nA: There are 15 trees originally. ' +
      'Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The answer is 6.',
  );
  assert.ok(parts[7]!.endsWith('So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.'));
  assert.equal(parts[8], 'Q: How many?\nA:');
  assert.deepEqual(
    GSM8K_COT_EXEMPLARS.map((shot) => shot.answer),
    ['6', '5', '39', '8', '9', '29', '33', '8'],
  );
});

test('CoT filters: tricky strings give what lm-eval gives (Python re on the YAML patterns)', () => {
  const strict: [string, string][] = [
    ['So 5 + 4 = 9. The answer is 9.', '9'],
    ['The answer is $1,000.', '[invalid]'], // "$" is not in the class
    ['The answer is -3.5 dollars.', '-3.5'],
    ['The answer is 12', '1'], // the pattern's final "." must match a character
    ['The answer is 7. The answer is 8.', '7.'], // the first match; greedy class takes the period
    ['The answer is 1,234.\n', '1,234'],
    ['no answer here', '[invalid]'],
  ];
  for (const [response, expected] of strict) {
    assert.equal(applyRegexFilter(response, GSM8K_COT_FILTERS['strict-match']), expected, response);
  }
  const llama: [string, string][] = [
    ['The final answer is 8', '8'],
    ['The final answer is $18.', '$18.'],
    ['The final answer is -4, not 5', '-4,'],
    ['The final answer is 3. The final answer is 42', '42'], // group_select −1: the last match
    ['The final answer is 1,000,000', '1,000,000'],
    ['The final answer is x', '[invalid]'],
  ];
  for (const [response, expected] of llama) {
    assert.equal(applyRegexFilter(response, GSM8K_COT_LLAMA_FILTERS['strict-match']), expected, response);
  }
  // Exact match against the final number after lm-eval's normalisation ("$", ",", a final "." removed).
  assert.equal(scoreGsm8k('The final answer is $18.', '18', GSM8K_COT_LLAMA_FILTERS).exactMatch['strict-match'], 1);
  assert.equal(scoreGsm8k('The answer is 12', '12', GSM8K_COT_FILTERS).exactMatch['strict-match'], 0);
  assert.equal(scoreGsm8k('The answer is 12', '12', GSM8K_COT_FILTERS).exactMatch['flexible-extract'], 1);
});

test('the rewritten solutions: annotations dropped, steps joined, final number kept', () => {
  const answer =
    'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72';
  assert.equal(
    gsm8kReasoning(answer),
    'Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May.',
  );
  assert.equal(gsm8kFinalAnswer(answer), '72');
});

test(
  'every test reference in either CoT style is recovered by its strict-match (1319/1319)',
  { skip: data.skip },
  () => {
    for (const task of [gsm8kCot, gsm8kCotLlama]) {
      const { eval: docs, train } = task.load(join(data.path, '..'));
      assert.equal(docs.length, 1319);
      assert.equal(train.length, 7473);
      const scores = scoreGsm8kResponses(
        docs,
        docs.map((doc) => doc.reference),
        task === gsm8kCot ? GSM8K_COT_FILTERS : GSM8K_COT_LLAMA_FILTERS,
      );
      assert.equal(scores.metrics['exact_match,strict-match'], 1, task.name);
    }
  },
);

test("gsm8k-cot-llama: the exemplars are user/assistant turns of the model's chat template", async () => {
  assert.equal(LLAMA_COT_HISTORY.length, 16);
  assert.equal(LLAMA_COT_HISTORY[1]!.content.endsWith('The final answer is 6'), true);
  assert.equal(
    llamaCotQuestion('Q?'),
    'Given the following problem, reason and give a final answer to the problem.\nProblem: Q?\n' +
      'Your response should end with "The final answer is [answer]" where [answer] is the response to the problem.\n',
  );
  const folder = sharedPath('models', 'golden', 'llama-tiny');
  if (folder.skip) return;
  const { promptIds } = await import('../src/evaluation/prompt-rendering.js');
  const { loadModel } = await import('../src/models/load.js');
  const { initEngine } = await import('../src/engine/backends.js');
  await initEngine('wasm');
  const { model, tokenizer } = loadModel(folder.path);
  const hf = tokenizer as unknown as { renderChat(m: object[], o: object): string };
  const question = llamaCotQuestion('How many?');
  const rendered = hf.renderChat([...LLAMA_COT_HISTORY, { role: 'user', content: question }], {
    addGenerationPrompt: true,
  });
  // Every exemplar turn appears, in order, before the question.
  let at = 0;
  for (const turn of LLAMA_COT_HISTORY) {
    const found = rendered.indexOf(turn.content, at);
    assert.ok(found >= at, turn.content.slice(0, 40));
    at = found + turn.content.length;
  }
  assert.ok(rendered.indexOf(question, at) >= at);
  const ids = promptIds(tokenizer, question, { chat: true, chatHistory: LLAMA_COT_HISTORY });
  assert.deepEqual(ids, tokenizer.encode(rendered, { addBos: false }));
  model.dispose();
});
