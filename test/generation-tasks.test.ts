/**
 * Generation tasks end to end: the shipped demo-arith and demo-code data, their scoring (GSM8K filters; sandboxed
 * pass@1), and `mceval run` fine-tuning a causal LM on them and evaluating by generation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';
import { generateDemoArith } from '../src/data/generators/demo-arith.js';
import { jsonLines } from '../src/data/jsonl-format.js';
import { demoArith } from '../src/tasks/demo/arith.js';
import { demoCode } from '../src/tasks/demo/code.js';
import { resolveTasks } from '../src/tasks/registry.js';
import { spyBatches } from './spy-batches.js';

test('demo-arith: the committed files are the generator output; references score 1 under both filters', async () => {
  const { train, test: testSplit } = generateDemoArith();
  assert.equal(readFileSync(packagePath('fixtures/demo-arith/train.jsonl'), 'utf8'), jsonLines(train));
  assert.equal(readFileSync(packagePath('fixtures/demo-arith/test.jsonl'), 'utf8'), jsonLines(testSplit));
  const { eval: docs, train: pairs } = demoArith.load(undefined);
  assert.equal(pairs.length, 400);
  assert.equal(docs.length, 40);
  assert.match(docs[0]!.prompt, /^Question: .*\nAnswer:$/);
  const perfect = await demoArith.score(
    docs,
    docs.map((doc) => doc.reference),
  );
  assert.deepEqual(perfect.metrics, { 'exact_match,strict-match': 1, 'exact_match,flexible-extract': 1 });
  const wrong = await demoArith.score(
    docs,
    docs.map(() => 'I do not know.'),
  );
  assert.equal(wrong.primary, 0);
});

test('demo-code: 12 problems whose canonical solutions pass in the sandbox, and a wrong completion fails', async () => {
  const { eval: docs, train } = demoCode.load(undefined);
  assert.equal(docs.length, 12);
  assert.equal(train.length, 16);
  const trainNames = new Set(train.map((pair) => /def (\w+)/.exec(pair.prompt)![1]));
  assert.ok(
    docs.every((doc) => !trainNames.has(/def (\w+)/.exec(doc.prompt)![1])),
    'train and eval share a function',
  );
  const canonical = await demoCode.score(
    docs,
    docs.map((doc) => doc.reference),
  );
  assert.deepEqual(canonical.metrics, { 'pass@1': 1 });
  const wrong = await demoCode.score(
    docs,
    docs.map(() => '    return None\n'),
  );
  assert.equal(wrong.primary, 0);
});

test('--task takes comma lists and groups', () => {
  assert.deepEqual(
    resolveTasks(['demo-arith,demo-code', 'superglue']).map((task) => task.name),
    ['demo-arith', 'demo-code', 'boolq', 'wic'],
  );
  assert.throws(() => resolveTasks(['glue,nope']), /Unknown task "nope"/);
});

test('mceval run --task demo-arith,demo-code fine-tunes a causal LM and scores generations; --limit, --log-samples', () => {
  const out = mkdtempSync(join(tmpdir(), 'mceval-generation-'));
  try {
    const result = spawnSync(
      process.execPath,
      [
        packagePath('bin', 'run.js'),
        'run',
        '--task',
        'demo-sentiment,demo-arith,demo-code',
        '--adapter',
        'lora',
        '--grid',
        'lr=0.003',
        '--grid',
        'bs=32',
        '--epochs',
        '1',
        '--limit',
        '8',
        '--train-limit',
        '64',
        '--log-samples',
        '--out',
        out,
        '--json',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(
      report.summary.map((row: { task: string }) => row.task),
      ['demo-sentiment', 'demo-arith', 'demo-code'],
    );
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').split('\n')[0]!;
    for (const column of ['"exact_match,strict-match"', '"exact_match,flexible-extract"', 'pass@1']) {
      assert.ok(csv.includes(column), `results.csv lacks ${column}`);
    }
    assert.ok(report.runs.every((run: { nll: number }) => Number.isFinite(run.nll) && run.nll > 0));
    const runs = readdirSync(join(out, 'runs')).sort();
    assert.equal(runs.length, 3);
    const records = runs.map((run) =>
      readFileSync(join(out, 'runs', run, 'samples.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    );
    for (const rows of records) assert.equal(rows.length, 8); // --limit 8
    assert.deepEqual(Object.keys(records[0]![0]), ['doc_id', 'input', 'target', 'prediction', 'correct', 'logprobs']);
    assert.deepEqual(Object.keys(records[1]![0]), ['doc_id', 'input', 'target', 'response', 'filtered', 'exact_match']);
    assert.deepEqual(Object.keys(records[2]![0]), ['doc_id', 'input', 'target', 'response', 'result', 'passed']);
    assert.ok(report.runs.every((run: { steps: number }) => run.steps <= 2)); // --train-limit 64 at bs 32
    assert.ok(existsSync(join(out, 'summary.csv')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('several samples per problem: seeded sampling, pass@k for every k the count allows', async () => {
  const { reportedKs, scoreCompletionSets } = await import('../src/evaluation/code-execution.js');
  assert.deepEqual(reportedKs(1), [1]);
  assert.deepEqual(reportedKs(4), [1, 2, 3, 4]);
  assert.deepEqual(reportedKs(200), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50, 100, 200]);
  const { eval: docs } = demoCode.load(undefined);
  const sets = docs.map((doc) => [doc.reference, '    return None\n']);
  const scores = await scoreCompletionSets(docs, sets);
  assert.deepEqual(scores.metrics, { 'pass@1': 0.5, 'pass@2': 1 });
  assert.deepEqual(scores.samples[0], { results: ['passed', 'failed: '], passed: 1 });
  const { loadModel } = await import('../src/models/load.js');
  const { generateResponses } = await import('../src/evaluation/generation.js');
  const { initEngine } = await import('../src/engine/backends.js');
  await initEngine('wasm');
  const { model, tokenizer } = loadModel('builtin:tiny');
  const decoding = { samples: 3, temperature: 0.9, topP: 0.95, seed: 5 };
  const first = await generateResponses(model, tokenizer, demoCode, docs.slice(0, 2), decoding);
  assert.deepEqual(await generateResponses(model, tokenizer, demoCode, docs.slice(0, 2), decoding), first);
  assert.equal(first[0]!.length, 3);
  assert.ok(new Set(first[0]).size > 1, 'three samples at temperature 0.9 were identical');
  model.dispose();
});

test("generation batches longest first and answers in doc order; a doc's samples do not depend on the other docs", async () => {
  const { loadModel } = await import('../src/models/load.js');
  const { generateResponses } = await import('../src/evaluation/generation.js');
  const { initEngine } = await import('../src/engine/backends.js');
  await initEngine('wasm');
  const { model, tokenizer } = loadModel('builtin:tiny');
  const { eval: docs } = demoCode.load(undefined);
  const five = docs.slice(0, 5); // prompts of 52, 43, 54, 78 and 52 characters: run as 78, 54, 52, 52, 43
  try {
    const together = await generateResponses(model, tokenizer, demoCode, five);
    const alone = [];
    for (const doc of five) alone.push((await generateResponses(model, tokenizer, demoCode, [doc]))[0]!);
    assert.deepEqual(together, alone);
    assert.ok(new Set(together.map((set) => set[0])).size > 1, 'the greedy answers of five prompts were all the same');
    // The first three docs' samples, from a run of three and a run of five (--limit 3 and --limit 5).
    const decoding = { samples: 2, temperature: 0.9, topP: 0.95, seed: 5 };
    const ofFive = await generateResponses(model, tokenizer, demoCode, five, decoding);
    const ofThree = await generateResponses(model, tokenizer, demoCode, five.slice(0, 3), decoding);
    assert.deepEqual(ofThree, ofFive.slice(0, 3));
    assert.notDeepEqual(ofFive[0], ofFive[1]);
  } finally {
    model.dispose();
  }
});

/** builtin:tiny on wasm, with `generate` and tf: the tests of generation's batches call them directly. */
async function tinyDecoder() {
  const { loadModel } = await import('../src/models/load.js');
  const { generate } = await import('../src/generation/generate.js');
  const { initEngine } = await import('../src/engine/backends.js');
  const { tf } = await import('../src/engine/tf.js');
  await initEngine('wasm');
  return { ...loadModel('builtin:tiny'), generate, tf };
}

test('prompts repeated in a batch share one prompt pass: each row as it would be generated alone', async () => {
  const { model, tokenizer, generate, tf } = await tinyDecoder();
  const [p, q] = [tokenizer.encode('def add(a, b):\n'), tokenizer.encode('# sort a list\ndef sort_list(xs):\n')];
  const options = { maxNewTokens: 24, sampling: { temperature: 0.9, topK: 0, topP: 1 }, seed: 7, eosTokenIds: [] };
  try {
    const tensors = tf.memory().numTensors;
    const batch = await generate(model, tokenizer, [p, q, p, p], { ...options, streams: [0, 1, 2, 3] });
    assert.equal(tf.memory().numTensors, tensors);
    const alone = [];
    for (const [b, prompt] of [p, q, p, p].entries())
      alone.push((await generate(model, tokenizer, [prompt], { ...options, streams: [b] }))[0]!.ids);
    assert.deepEqual(
      batch.map((row) => row.ids),
      alone,
    );
    assert.equal(new Set([0, 2, 3].map((b) => batch[b]!.ids.join())).size, 3, 'the samples of one prompt were alike');
  } finally {
    model.dispose();
  }
});

test('stopped rows leave the batch once half of it has stopped; each row decodes as in the full batch', async () => {
  const { model, tokenizer, generate, tf } = await tinyDecoder();
  const texts = ['def add(a, b):\n', '# sort a list\ndef sort_list(xs):\n', 'x = 1\n', 'class A:\n', 'import os\n'];
  const prompts = texts.map((text) => tokenizer.encode(text));
  const options = { maxNewTokens: 24, sampling: { temperature: 0.9, topK: 0, topP: 1 }, seed: 7 };
  try {
    const full = await generate(model, tokenizer, prompts, { ...options, eosTokenIds: [] });
    // Two of the sampled tokens made EOS: each row stops where the first of them comes in it, or runs to the end.
    const eosTokenIds = [full[0]!.ids[3]!, full[1]!.ids[10]!];
    const expected = full.map((row) => {
      const end = row.ids.findIndex((id) => eosTokenIds.includes(id));
      return end < 0 ? row.ids : row.ids.slice(0, end);
    });
    assert.ok(new Set(expected.map((ids) => ids.length)).size >= 3, 'the rows did not stop at three different steps');
    // A row of n tokens chose its EOS at step n; once at most half the batch is still decoding, the rest leave it.
    const steps = Math.min(options.maxNewTokens, Math.max(...expected.map((ids) => ids.length + 1)));
    const batchSizes: number[] = [];
    for (let step = 0, batch = prompts.length; step < steps; step++) {
      batchSizes.push(batch);
      const decoding = expected.filter((ids) => ids.length > step).length;
      if (decoding <= batch / 2) batch = decoding;
    }
    assert.ok(new Set(batchSizes).size >= 3, 'the batch did not drop its stopped rows twice');
    const seen = spyBatches(model, 'decode');
    for (const useCache of [true, false]) {
      seen.length = 0;
      const tensors = tf.memory().numTensors;
      const rows = await generate(model, tokenizer, prompts, { ...options, eosTokenIds, useCache });
      assert.equal(tf.memory().numTensors, tensors);
      assert.deepEqual(
        rows.map((row) => row.ids),
        expected,
        `useCache ${useCache}`,
      );
      assert.deepEqual(
        rows.map((row) => row.stopReason),
        expected.map((ids) => (ids.length < options.maxNewTokens ? 'eos' : 'max-new-tokens')),
      );
      assert.deepEqual(seen, batchSizes, `the batch sizes step by step, useCache ${useCache}`);
    }
  } finally {
    model.dispose();
  }
});

test('--train-file: instruction JSONL in its common layouts replaces the training pairs; bad rows stop the run', async () => {
  const { readTrainingPairs } = await import('../src/data/train-file.js');
  const { writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'mceval-train-file-'));
  try {
    const file = join(dir, 'train.jsonl');
    writeFileSync(
      file,
      jsonLines([
        { prompt: 'def f():\n', completion: '    return 1\n' },
        { instruction: 'Add 1 and 2.', input: '', output: '3' },
        { problem: 'Write hello.', solution: 'print("hello")' },
      ]),
    );
    const pairs = readTrainingPairs(file);
    assert.deepEqual(pairs[0], { prompt: 'def f():\n', target: '    return 1\n' });
    assert.match(pairs[1]!.prompt, /### Instruction:\nAdd 1 and 2\.\n\n### Response:\n$/);
    assert.deepEqual(pairs[2], { prompt: 'Write hello.\n', target: 'print("hello")' });
    const run = (args: string[]) =>
      spawnSync(process.execPath, [packagePath('bin', 'run.js'), 'run', ...args, '--out', join(dir, 'out'), '--json'], {
        encoding: 'utf8',
      });
    const ok = run([
      '--task',
      'demo-code',
      '--adapter',
      'lora',
      '--grid',
      'lr=0.003',
      '--grid',
      'bs=2',
      '--epochs',
      '1',
      '--limit',
      '2',
      '--train-file',
      file,
    ]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).runs[0].steps, 2); // 3 pairs at batch size 2
    writeFileSync(join(dir, 'bad.jsonl'), '{"prompt": "x", "completion": "y"}\n{"text": 1}\n');
    const bad = run(['--task', 'demo-code', '--adapter', 'lora', '--train-file', join(dir, 'bad.jsonl')]);
    assert.notEqual(bad.status, 0);
    assert.match(JSON.parse(bad.stdout).error.message, /Malformed row at .*bad\.jsonl:2: expected/);
    const classification = run(['--task', 'rte', '--adapter', 'lora', '--train-file', file]);
    assert.match(JSON.parse(classification.stdout).error.message, /rte is a classification task/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--train-file reads JSON arrays (LLM-Adapters, Alpaca) as well as JSONL', async () => {
  const { readTrainingPairs } = await import('../src/data/train-file.js');
  const { writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'mceval-train-json-'));
  try {
    const file = join(dir, 'commonsense_15k.json');
    writeFileSync(
      file,
      JSON.stringify([{ instruction: 'Pick.', input: '', output: 'the correct answer is answer1', answer: 'answer1' }]),
    );
    const [pair] = readTrainingPairs(file);
    assert.equal(pair!.target, 'the correct answer is answer1');
    writeFileSync(file, JSON.stringify([{ instruction: 'Pick.', output: 'x' }, 7]));
    assert.throws(() => readTrainingPairs(file), /Malformed row at .*commonsense_15k\.json record 2: expected/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--train-mixture: one seeded sample without replacement from every task’s pairs, written to the run folder', async () => {
  const { trainingMixture } = await import('../src/data/train-mixture.js');
  const sets = [
    Array.from({ length: 6 }, (_, i) => ({ prompt: `a${i}`, target: 'x' })),
    Array.from({ length: 4 }, (_, i) => ({ prompt: `b${i}`, target: 'y' })),
  ];
  const mixture = trainingMixture(sets, 7, 42);
  assert.equal(mixture.length, 7);
  assert.equal(new Set(mixture.map((pair) => pair.prompt)).size, 7);
  assert.deepEqual(trainingMixture(sets, 7, 42), mixture);
  assert.notDeepEqual(trainingMixture(sets, 7, 43), mixture);
  assert.equal(trainingMixture(sets, 10, 1).length, 10);
  assert.throws(() => trainingMixture(sets, 11, 1), /--train-mixture 11 is more than the 10 training pairs/);

  const dir = mkdtempSync(join(tmpdir(), 'mceval-mixture-'));
  try {
    const out = join(dir, 'out');
    const args = ['run', '--task', 'demo-arith,demo-code', '--adapter', 'lora', '--grid', 'lr=0.003', '--grid', 'bs=4'];
    const result = spawnSync(
      process.execPath,
      [
        packagePath('bin', 'run.js'),
        ...args,
        '--epochs',
        '1',
        '--limit',
        '1',
        '--train-mixture',
        '12',
        '--out',
        out,
        '--json',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(result.status, 0, result.stderr);
    const lines = readFileSync(join(out, 'train-mixture.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines.length, 12);
    // Exactly the seeded draw from the pooled pairs of both tasks, in task order.
    const expected = trainingMixture([demoArith.load(undefined).train, demoCode.load(undefined).train], 12, 42);
    assert.deepEqual(
      lines,
      expected.map((pair) => ({ prompt: pair.prompt, completion: pair.target })),
    );
    assert.deepEqual(
      JSON.parse(result.stdout).runs.map((run: { steps: number }) => run.steps),
      [3, 3],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--log-samples records: the chat conversation of chat variants, the compared target and the reference', async () => {
  const { generationRunner } = await import('../src/runners/generation.js');
  const { gsm8kCotLlama, LLAMA_COT_HISTORY } = await import('../src/tasks/gsm8k/cot.js');
  const doc = {
    id: '0',
    prompt: 'Q?',
    reference: 'r The final answer is 5',
    answer: '5',
    chat: true,
    chatHistory: LLAMA_COT_HISTORY,
  };
  const evaluation = {
    accuracy: 0,
    nll: 1,
    metrics: {},
    responses: ['The final answer is 5'],
    samples: [{ exact: 1 }],
  };
  const [record] = generationRunner.sampleRecords(gsm8kCotLlama, { train: [], eval: [doc] }, evaluation);
  assert.deepEqual(record!['messages'], [...LLAMA_COT_HISTORY, { role: 'user', content: 'Q?' }]);
  assert.equal(record!['target'], '5');
  assert.equal(record!['reference'], 'r The final answer is 5');
  const [plain] = generationRunner.sampleRecords(
    demoArith,
    { train: [], eval: [{ id: '1', prompt: 'p', reference: ' 7' }] },
    evaluation,
  );
  assert.equal(plain!['target'], ' 7');
  assert.ok(!('messages' in plain!) && !('reference' in plain!));
});
