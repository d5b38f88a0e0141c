/** `mceval score`: predictions made elsewhere, scored with the task's own filters and metrics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';
import { getTask } from '../src/tasks/registry.js';
import { readPredictions, scorePredictions } from '../src/evaluation/score-predictions.js';
import { loadTask } from '../src/runners/index.js';
import { jsonLines } from '../src/data/jsonl-format.js';
import type { GenerationDoc } from '../src/tasks/types.js';
import { sharedPath } from './shared-fixtures.js';
import { readHumanEvalProblems } from '../src/data/loaders/humaneval.js';

const shared = sharedPath('data');

function withFile<T>(rows: object[], body: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-score-'));
  try {
    const path = join(dir, 'predictions.jsonl');
    writeFileSync(path, jsonLines(rows));
    return body(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('GSM8K-format predictions: filters, exact match, stop sequences and per-sample records', async () => {
  const task = getTask('demo-arith');
  const data = task.load(undefined);
  const loaded = await loadTask(task, undefined);
  const docs = 'eval' in data ? (data.eval as GenerationDoc[]) : [];
  const rows = [
    { doc_id: 0, prediction: docs[0]!.reference },
    // Text after a stop sequence is cut, as generation would have stopped there.
    { doc_id: 1, prediction: `${docs[1]!.reference}\n\nQuestion: #### 999` },
    { doc_id: 2, prediction: 'no idea' },
    { index: 3, response: `So it is ${docs[3]!.reference.split('#### ')[1]}.` },
  ];
  const scored = await withFile(rows, (path) => scorePredictions(loaded, readPredictions(path)));
  assert.deepEqual(scored.metrics, { 'exact_match,strict-match': 0.5, 'exact_match,flexible-extract': 0.75 });
  assert.equal(scored.scored, 4);
  assert.equal(scored.total, 40);
  assert.deepEqual((scored.samples[2] as { filtered: object }).filtered, {
    'strict-match': '[invalid]',
    'flexible-extract': '[invalid]',
  });
});

test('classification predictions by label name or index; unknown labels and ids are one-line errors', async () => {
  const task = getTask('demo-sentiment');
  const data = task.load(undefined);
  const loaded = await loadTask(task, undefined);
  const dev = 'dev' in data ? data.dev : [];
  const rows = dev.slice(0, 10).map((example, i) => ({
    index: i,
    prediction: i < 5 ? ['negative', 'positive'][example.label] : 1 - example.label,
  }));
  const scored = await withFile(rows, (path) => scorePredictions(loaded, readPredictions(path)));
  assert.equal(scored.metrics['accuracy'], 0.5);
  await assert.rejects(
    withFile([{ index: 0, prediction: 'maybe' }], (path) => scorePredictions(loaded, readPredictions(path))),
    /prediction "maybe" is not a label of demo-sentiment \(negative, positive\) or its index/,
  );
  await assert.rejects(
    withFile([{ index: 9999, prediction: 1 }], (path) => scorePredictions(loaded, readPredictions(path))),
    /id "9999" is not an index of the evaluation split \(0…299\)/,
  );
});

test('the CLI scores human-eval samples (several per problem) and writes per-sample results', () => {
  const problems = readFileSync(packagePath('fixtures', 'demo-code', 'problems.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { task_id: string; canonical_solution: string });
  const rows = problems.flatMap((p) => [
    { task_id: p.task_id, completion: p.canonical_solution },
    { task_id: p.task_id, completion: '    return None\n' },
  ]);
  withFile(rows, (path) => {
    const result = spawnSync(
      process.execPath,
      [packagePath('bin', 'run.js'), 'score', '--task', 'demo-code', '--predictions', path, '--json'],
      { encoding: 'utf8' },
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(report.metrics, { 'pass@1': 0.5, 'pass@2': 1 });
    const samples = readFileSync(`${path}_scored.jsonl`, 'utf8').trim().split('\n');
    assert.equal(samples.length, 24);
    assert.equal(JSON.parse(samples[1]!).result, 'failed: ');
    assert.equal(JSON.parse(samples[1]!).exception, 'AssertionError');
  });
});

test(
  'scoring reads only the evaluation split: humaneval without MBPP, RTE without train.tsv',
  { skip: shared.skip },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'mceval-score-data-'));
    try {
      // Only the files scoring reads: HumanEval's problems and RTE's dev.tsv (no mbpp/, no rte/train.tsv).
      mkdirSync(join(dir, 'humaneval'));
      symlinkSync(join(shared.path, 'humaneval', 'HumanEval.jsonl.gz'), join(dir, 'humaneval', 'HumanEval.jsonl.gz'));
      mkdirSync(join(dir, 'rte'));
      symlinkSync(join(shared.path, 'rte', 'dev.tsv'), join(dir, 'rte', 'dev.tsv'));
      const score = (task: string, rows: object[]) =>
        withFile(rows, (path) =>
          spawnSync(
            process.execPath,
            [packagePath('bin', 'run.js'), 'score', '--task', task, '--predictions', path, '--data', dir, '--json'],
            { encoding: 'utf8' },
          ),
        );
      const [first] = readHumanEvalProblems(join(shared.path, 'humaneval', 'HumanEval.jsonl.gz'));
      const code = score('humaneval', [
        { task_id: first!.task_id, completion: first!.canonical_solution },
        { task_id: first!.task_id, completion: '    return None\n' },
      ]);
      assert.equal(code.status, 0, code.stderr);
      assert.deepEqual(JSON.parse(code.stdout).metrics, { 'pass@1': 0.5, 'pass@2': 1 });
      const rte = score('rte', [{ index: 0, prediction: 'entailment' }]);
      assert.equal(rte.status, 0, rte.stderr);
      assert.equal(JSON.parse(rte.stdout).scored, 1);
      // Training still needs its file, and says which.
      const run = spawnSync(
        process.execPath,
        [
          packagePath('bin', 'run.js'),
          'run',
          '--task',
          'rte',
          '--adapter',
          'lora',
          '--data',
          dir,
          '--grid',
          'lr=1e-3',
          '--grid',
          'bs=8',
          '--quiet',
        ],
        { encoding: 'utf8' },
      );
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, /data file not found at .*rte\/train\.tsv/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
