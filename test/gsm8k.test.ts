/**
 * GSM8K's filters and exact match with lm-eval's semantics. Expected outputs of the tricky strings were computed
 * with Python's re module running lm-eval's RegexFilter logic and its exact_match normalisation (regexes_to_ignore
 * ",", "\\$", "(?s).*#### ", "\\.$"; ignore_case) — the code lm-eval runs, on these strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PythonRandom } from '../src/tasks/gsm8k/python-random.js';
import { GSM8K_EXACT_MATCH, GSM8K_FILTERS, gsm8kPrompt, scoreGsm8k } from '../src/tasks/gsm8k/scoring.js';
import { gsm8kChat, gsm8kFewShot } from '../src/tasks/gsm8k/gsm8k.js';
import { applyRegexFilter, findAll } from '../src/evaluation/filters/regex-filter.js';
import { normalizeForExactMatch } from '../src/metrics/exact-match.js';
import { readGsm8kJsonl } from '../src/data/loaders/gsm8k.js';
import type { GenerationSplits } from '../src/tasks/types.js';
import { sharedPath } from './shared-fixtures.js';

const data = sharedPath('data', 'gsm8k');

test('strict-match recovers the target of every test reference answer (1319/1319)', { skip: data.skip }, () => {
  const test = readGsm8kJsonl(join(data.path, 'test.jsonl'), 'test');
  assert.equal(test.length, 1319);
  const recovered = test.filter(
    (example) => scoreGsm8k(example.answer, example.answer).exactMatch['strict-match'] === 1,
  );
  assert.equal(recovered.length, 1319);
});

test('tricky strings: filtered outputs and normalised forms as lm-eval computes them', () => {
  const table: [string, string, string, string, string][] = [
    // response, strict-match, flexible-extract, normalised strict, normalised flexible
    ['The answer is 1,234.\n#### 1,234', '1,234', '1,234', '1234', '1234'],
    ['She pays $18 in total.\n#### $18', '[invalid]', '$18', '[invalid]', '18'],
    ['#### 18.', '18.', '18.', '18', '18'],
    ['So the result is -7\n#### -7', '-7', '-7', '-7', '-7'],
    ['First 3 apples, then 5 pears, so 8 fruits in total.', '[invalid]', '8', '[invalid]', '8'],
    ['The total is $1,250.50.', '[invalid]', '$1,250.50.', '[invalid]', '1250.50'],
    ['No numbers here at all.', '[invalid]', '[invalid]', '[invalid]', '[invalid]'],
    ['#### 42 and later #### 43', '42', '43', '42', '43'],
    ['It costs 5 dollars, so 5 * 2 = 10.', '[invalid]', '10.', '[invalid]', '10'],
    ['Answer: 0.5', '[invalid]', '0.5', '[invalid]', '0.5'],
    ['We get 12.\n\nQuestion: next one has 99', '[invalid]', '99', '[invalid]', '99'],
  ];
  for (const [response, strict, flexible, strictNorm, flexibleNorm] of table) {
    const s = applyRegexFilter(response, GSM8K_FILTERS['strict-match']);
    const f = applyRegexFilter(response, GSM8K_FILTERS['flexible-extract']);
    assert.deepEqual([s, f], [strict, flexible], response);
    assert.deepEqual(
      [normalizeForExactMatch(s, GSM8K_EXACT_MATCH), normalizeForExactMatch(f, GSM8K_EXACT_MATCH)],
      [strictNorm, flexibleNorm],
      response,
    );
  }
  // Scored against a reference: "$18" fails strict-match (no number after "#### ") and passes flexible-extract.
  const score = scoreGsm8k('She pays $18 in total.\n#### $18', 'She pays 18.\n#### 18');
  assert.deepEqual(score.exactMatch, { 'strict-match': 0, 'flexible-extract': 1 });
});

test("findall has Python's shape: whole matches, single groups, tuples of groups", () => {
  assert.deepEqual(findAll(/\d+/, 'a1b22'), ['1', '22']);
  assert.deepEqual(findAll(/x(\d)/, 'x1x2'), ['1', '2']);
  assert.deepEqual(findAll(/(a)|(b)/, 'ab'), [
    ['a', ''],
    ['', 'b'],
  ]);
});

test("n-shot prompts: lm-eval's layout and sampler; a drawn example equal to the question is dropped", () => {
  const train = Array.from({ length: 10 }, (_, i) => ({ question: `q${i}`, answer: `a${i}\n#### ${i}` }));
  const doc = { question: 'Why?', answer: '#### 0' };
  assert.equal(gsm8kPrompt(doc, train, 0), 'Question: Why?\nAnswer:');
  // Python 3.11: random.Random(3).sample(range(10), 5) == [3, 8, 2, 7, 4]
  const shots = gsm8kPrompt(doc, train, 5, new PythonRandom(3)).split('\n\n');
  assert.deepEqual(
    shots.slice(0, 5),
    [3, 8, 2, 7, 4].map((i) => `Question: q${i}\nAnswer: a${i}\n#### ${i}`),
  );
  assert.equal(shots[5], 'Question: Why?\nAnswer:');
  // lm-eval keeps the draw and removes the evaluated doc from it (`x != doc`), leaving 4 examples.
  const fewer = gsm8kPrompt(train[8]!, train, 5, new PythonRandom(3)).split('\n\n');
  assert.equal(fewer.length, 5);
  assert.ok(!fewer.slice(0, 4).some((shot) => shot.startsWith('Question: q8\n')));
});

test(
  "gsm8k-5shot: lm-eval's five train examples before every test question (random.Random(1234), in order)",
  { skip: data.skip },
  () => {
    const first = gsm8kFewShot.load(join(data.path, '..'));
    const train = readGsm8kJsonl(join(data.path, 'train.jsonl'), 'train');
    assert.equal(first.eval.length, 1319);
    const question = (i: number) => `Question: ${train[i]!.question}\nAnswer: ${train[i]!.answer}`;
    // Indices from Python 3.11: r = random.Random(1234); [r.sample(range(7473), 5) for _ in range(1319)]
    assert.equal(
      first.eval[0]!.prompt.split('\n\n').slice(0, 5).join('\n\n'),
      [6374, 3610, 957, 61, 742].map(question).join('\n\n'),
    );
    assert.ok(first.eval[1318]!.prompt.startsWith(`${question(220)}\n\n${question(4179)}\n\n`));
    assert.match(first.eval[0]!.prompt.split('\n\n').at(-1)!, /^Question: Janet’s ducks[\s\S]*\nAnswer:$/);
  },
);

test("gsm8k-chat renders prompts through the model's chat template; base tokenizers are told to use gsm8k", async () => {
  const { promptIds } = await import('../src/evaluation/prompt-rendering.js');
  const { loadModel } = await import('../src/models/load.js');
  const { initEngine } = await import('../src/engine/backends.js');
  await initEngine('wasm');
  const builtin = loadModel('builtin:tiny');
  assert.throws(
    () => promptIds(builtin.tokenizer, 'Question: q\nAnswer:', { chat: true }),
    /needs a model whose tokenizer has a chat template/,
  );
  assert.deepEqual(promptIds(builtin.tokenizer, 'abc'), builtin.tokenizer.encode('abc'));
  builtin.model.dispose();
  const folder = sharedPath('models', 'golden', 'llama-tiny');
  if (folder.skip) return;
  const { model, tokenizer } = loadModel(folder.path);
  const hf = tokenizer as unknown as { renderChat(m: object[], o: object): string };
  const rendered = hf.renderChat([{ role: 'user', content: 'Question: q\nAnswer:' }], { addGenerationPrompt: true });
  assert.ok(rendered.includes('Question: q\nAnswer:') && rendered !== 'Question: q\nAnswer:');
  assert.deepEqual(
    promptIds(tokenizer, 'Question: q\nAnswer:', { chat: true }),
    tokenizer.encode(rendered, { addBos: false }),
  );
  const { eval: docs, train } = gsm8kChat.load(join(data.path, '..'));
  assert.ok(docs[0]!.chat === true && train[0]!.chat === true);
  model.dispose();
});

test('gsm8k-<n>shot: any n from 1 to 32 by name, each with lm-eval draws; others are unknown', async () => {
  const { getTask, resolveTasks } = await import('../src/tasks/registry.js');
  assert.equal(getTask('gsm8k-8shot').name, 'gsm8k-8shot');
  assert.equal(resolveTasks(['gsm8k-5shot,gsm8k-3shot']).length, 2);
  assert.throws(() => getTask('gsm8k-0shot'), /Unknown task "gsm8k-0shot".*gsm8k-<n>shot takes n from 1 to 32/);
  assert.throws(() => getTask('gsm8k-33shot'), /Unknown task/);
  if (data.skip) return;
  const eight = getTask('gsm8k-8shot').load(join(data.path, '..')) as GenerationSplits;
  assert.equal(eight.eval[0]!.prompt.split('\n\nQuestion: ').length, 9);
});

test("gsm8k-5shot-chat: lm-eval's five examples as user/assistant turns before the question's turn", async () => {
  const { getTask } = await import('../src/tasks/registry.js');
  assert.equal(getTask('gsm8k-3shot-chat').name, 'gsm8k-3shot-chat');
  if (data.skip) return;
  const plain = gsm8kFewShot.load(join(data.path, '..'));
  const chat = getTask('gsm8k-5shot-chat').load(join(data.path, '..')) as GenerationSplits;
  const doc = chat.eval[0]!;
  assert.equal(doc.chat, true);
  assert.equal(doc.prompt, plain.eval[0]!.prompt.split('\n\n').at(-1));
  // The same draw as the plain prompt, turn by turn: "Question: …\nAnswer:" from the user, the solution from the assistant.
  const turns = doc.chatHistory!.map((turn) => (turn.role === 'user' ? `${turn.content} ` : turn.content)).join('');
  assert.equal(doc.chatHistory!.length, 10);
  assert.equal(plain.eval[0]!.prompt.split('\n\n').slice(0, 5).join(''), turns);
  assert.ok(chat.train.every((pair) => pair.chat === true));
});
