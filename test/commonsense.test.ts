/**
 * Commonsense tasks in LLM-Adapters' generation mode: its prompt template and its answer extraction
 * (commonsense_evaluate.py: re.findall of the allowed answer words, first match, "" when none), on its own files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { llmAdaptersPrompt } from '../src/data/llm-adapters-prompt.js';
import { extractAnswer, scoreInstructionAnswers } from '../src/tasks/commonsense/answer-extraction.js';
import { getTask, resolveTasks } from '../src/tasks/registry.js';
import { sharedPath } from './shared-fixtures.js';
import { useTestBackend } from './helpers.js';
import type { GenerationDoc } from '../src/tasks/types.js';

await useTestBackend();

test('answer extraction: the first allowed word, as re.findall(...)[0]; empty when none', () => {
  assert.equal(extractAnswer('the correct answer is solution2', /solution1|solution2/), 'solution2');
  assert.equal(extractAnswer('answer3, not answer1', /answer1|answer2|answer3|answer4|answer5/), 'answer3');
  assert.equal(extractAnswer('I think option1.', /option1|option2/), 'option1');
  assert.equal(extractAnswer('It is true; false otherwise', /true|false/), 'true');
  assert.equal(extractAnswer('no idea', /true|false/), '');
  assert.equal(extractAnswer('ending4 fits best', /ending1|ending2|ending3|ending4/), 'ending4');
  const docs = [
    { id: '0', prompt: 'p', reference: 'answer2' },
    { id: '1', prompt: 'p', reference: 'answer1' },
  ];
  const scores = scoreInstructionAnswers(
    docs,
    ['the correct answer is answer2', 'answer4'],
    /answer1|answer2|answer3|answer4/,
  );
  assert.equal(scores.primary, 0.5);
  assert.deepEqual(scores.samples, [
    { extracted: 'answer2', correct: true },
    { extracted: 'answer4', correct: false },
  ]);
});

test("LLM-Adapters' prompt template, with and without an input", () => {
  assert.equal(
    llmAdaptersPrompt({ instruction: 'Say hi.', input: '' }),
    'Below is an instruction that describes a task. Write a response that appropriately completes the request. \n\n### Instruction:\nSay hi.\n\n### Response:\n',
  );
  assert.match(llmAdaptersPrompt({ instruction: 'Add.', input: '1 2' }), /\n\n### Input:\n1 2\n\n### Response:\n$/);
});

const data = sharedPath('data');

test(
  'the commonsense group, and the real files: references are what the extraction would accept',
  { skip: data.skip },
  async () => {
    assert.deepEqual(
      resolveTasks(['commonsense']).map((task) => task.name),
      ['piqa', 'siqa', 'winogrande', 'arc-easy', 'arc-challenge', 'openbookqa'],
    );
    for (const name of ['arc-easy', 'arc-challenge', 'openbookqa', 'boolq-generation']) {
      const task = getTask(name);
      const loaded = task.load(data.path);
      const docs = 'eval' in loaded ? (loaded.eval as GenerationDoc[]) : [];
      assert.ok(docs.length > 0);
      if (task.kind !== 'generation') continue;
      // LLM-Adapters' own outputs ("the correct answer is answerN") score 1 everywhere.
      const scores = await task.score(
        docs,
        docs.map((doc) => `the correct answer is ${doc.reference}`),
      );
      assert.equal(scores.primary, 1, name);
    }
  },
);

test('zero-shot multiple choice: acc from raw log-likelihoods, acc_norm per character, NLL of the gold share', async () => {
  const { loadModel } = await import('../src/models/load.js');
  const { scoreContinuations } = await import('../src/generation/score.js');
  const { evaluateMultipleChoice } = await import('../src/evaluation/multiple-choice.js');
  const { model, tokenizer } = loadModel('builtin:tiny');
  const docs = [
    { id: 'a', context: 'Question: sky?\nAnswer:', choices: ['blue', 'a very long green answer'], gold: 0 },
    { id: 'b', context: 'Question: two?\nAnswer:', choices: ['2', 'two', 'zwei'], gold: 2 },
  ];
  const result = await evaluateMultipleChoice(model, tokenizer, docs);
  let acc = 0;
  let accNorm = 0;
  for (const doc of docs) {
    const ll = (
      await scoreContinuations(
        model,
        tokenizer,
        doc.choices.map((choice) => ({ context: doc.context, continuation: ` ${choice}` })),
      )
    ).map((score) => score.logprob);
    const best = ll.indexOf(Math.max(...ll));
    const perChar = ll.map((value, k) => value / doc.choices[k]!.length);
    const bestNorm = perChar.indexOf(Math.max(...perChar));
    acc += best === doc.gold ? 0.5 : 0;
    accNorm += bestNorm === doc.gold ? 0.5 : 0;
  }
  assert.deepEqual(result.metrics, { acc, acc_norm: accNorm });
  assert.ok(Number.isFinite(result.nll) && result.nll > 0);
  model.dispose();
});

test("original-format commonsense files become lm-eval's documents (HellaSwag preprocessing, WinoGrande partial scoring)", async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { readHellaswag, readPiqa, readSocialIqa, readWinogrande, capitalize } =
    await import('../src/data/loaders/commonsense-originals.js');
  const dir = mkdtempSync(join(tmpdir(), 'mceval-commonsense-'));
  try {
    // HellaSwag: activity label + ctx_a + capitalize(ctx_b) (Python's: the rest lower-cased); [title] → ". ".
    writeFileSync(
      join(dir, 'hs.jsonl'),
      `${JSON.stringify({ ind: 4, activity_label: 'Removing ice', ctx_a: 'A man [title] scrapes.', ctx_b: 'then HE waits', endings: ['a [header] b', 'c  d'], label: '1' })}\n`,
    );
    const [hs] = readHellaswag(join(dir, 'hs.jsonl'));
    assert.equal(capitalize('then HE waits'), 'Then he waits');
    assert.deepEqual(hs, {
      id: '4',
      context: 'Removing ice: A man.  scrapes. Then he waits'.replace('  ', ' '),
      choices: ['a b', 'c d'],
      gold: 1,
    });
    writeFileSync(join(dir, 'piqa.jsonl'), `${JSON.stringify({ goal: 'Open a jar', sol1: 'twist', sol2: 'shake' })}\n`);
    writeFileSync(join(dir, 'labels.lst'), '0\n');
    assert.deepEqual(
      readPiqa(join(dir, 'piqa.jsonl'), join(dir, 'labels.lst'))[0]!.context,
      'Question: Open a jar\nAnswer:',
    );
    writeFileSync(
      join(dir, 'siqa.jsonl'),
      `${JSON.stringify({ context: 'Tracy won.', question: 'How does Tracy feel?', answerA: 'sad', answerB: 'happy', answerC: 'tired' })}\n`,
    );
    writeFileSync(join(dir, 'siqa-labels.lst'), '2\n');
    assert.deepEqual(readSocialIqa(join(dir, 'siqa.jsonl'), join(dir, 'siqa-labels.lst')), [
      { id: '0', context: 'Q: Tracy won. How does Tracy feel?\nA:', choices: ['sad', 'happy', 'tired'], gold: 1 },
    ]);
    writeFileSync(
      join(dir, 'wg.jsonl'),
      `${JSON.stringify({ qID: 'q1', sentence: 'Sarah was better than Maria so _ got the easy cases.', option1: 'Sarah', option2: 'Maria', answer: '2' })}\n`,
    );
    const [wg] = readWinogrande(join(dir, 'wg.jsonl'));
    assert.deepEqual(wg, {
      id: 'q1',
      context: 'Sarah was better than Maria so ',
      choices: ['Sarah was better than Maria so Sarah', 'Sarah was better than Maria so Maria'],
      continuation: 'got the easy cases.',
      gold: 1,
    });
    // Partial scoring: the same continuation after each option's context.
    const { loadModel } = await import('../src/models/load.js');
    const { scoreContinuations } = await import('../src/generation/score.js');
    const { evaluateMultipleChoice } = await import('../src/evaluation/multiple-choice.js');
    const { model, tokenizer } = loadModel('builtin:tiny');
    const result = await evaluateMultipleChoice(model, tokenizer, [wg!]);
    const ll = (
      await scoreContinuations(
        model,
        tokenizer,
        wg!.choices.map((context) => ({ context, continuation: ' got the easy cases.' })),
      )
    ).map((s) => s.logprob);
    assert.equal(result.metrics['acc'], ll[1]! > ll[0]! ? 1 : 0);
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
