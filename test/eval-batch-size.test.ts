/**
 * --eval-batch-size reaches every kind of evaluation: each runner, given a batch size, runs batches of at most that
 * many sequences, and scores as with its default batch (the same answers; NLL and log-probabilities within float32's
 * summing order, 1e-5). `mceval run` writes the size into each run's config.json and key and the size it evaluated at
 * into its row (auto's: the kind's default off webgpu), refuses 0 and x in one line, and passes the size to --jobs'
 * workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../src/engine/backends.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { RUNNERS } from '../src/runners/index.js';
import { demoCode } from '../src/tasks/demo/code.js';
import { demoSentiment } from '../src/tasks/demo/sentiment.js';
import { getTask } from '../src/tasks/registry.js';
import type { MultipleChoiceTask } from '../src/tasks/types.js';
import { packagePath } from '../src/paths.js';
import { spyBatches } from './spy-batches.js';

test('generation, multiple-choice and classification runners evaluate in batches of the given size', async () => {
  await initEngine('wasm');
  const { model, tokenizer } = loadModel('builtin:tiny');
  try {
    const decodes = spyBatches(model, 'decode');
    const scored = spyBatches(model, 'hiddenAt');

    const code = { ...demoCode.load(undefined), eval: demoCode.load(undefined).eval.slice(0, 5) };
    const byDefault = await RUNNERS.generation.evaluate(model, tokenizer, demoCode, code, {});
    assert.ok(Math.max(...decodes) === 5, 'the default batch did not hold all five prompts');
    assert.deepEqual(scored, [5], "the references' NLL");
    decodes.length = 0;
    scored.length = 0;
    const inTwos = await RUNNERS.generation.evaluate(model, tokenizer, demoCode, code, { batchSize: 2 });
    assert.ok(decodes.length > 0 && decodes.every((size) => size <= 2), `generation batches: ${decodes}`);
    assert.deepEqual(scored, [2, 2, 1], "the references' NLL");
    assert.deepEqual(inTwos.responses, byDefault.responses);
    assert.ok(Math.abs(inTwos.nll - byDefault.nll) < 1e-5, `${inTwos.nll} against ${byDefault.nll}`);

    const arc = getTask('arc-easy-mc') as MultipleChoiceTask;
    const docs = [
      { id: 'a', context: 'Question: What do plants need?\nAnswer:', choices: ['light', 'sand', 'noise'], gold: 0 },
      { id: 'b', context: 'Question: Ice is\nAnswer:', choices: ['cold water', 'hot', 'a gas', 'loud'], gold: 0 },
    ];
    const choices = { train: [], eval: docs };
    scored.length = 0;
    const allAtOnce = await RUNNERS['multiple-choice'].evaluate(model, tokenizer, arc, choices, {});
    assert.deepEqual(scored, [7]);
    scored.length = 0;
    const inThrees = await RUNNERS['multiple-choice'].evaluate(model, tokenizer, arc, choices, { batchSize: 3 });
    assert.deepEqual(scored, [3, 3, 1]);
    assert.equal(inThrees.accuracy, allAtOnce.accuracy);
    assert.ok(Math.abs(inThrees.nll - allAtOnce.nll) < 1e-5, `${inThrees.nll} against ${allAtOnce.nll}`);
  } finally {
    model.dispose();
  }

  const { model: classifier, tokenizer: classifierTokenizer } = loadModel('builtin:tiny');
  try {
    const runner = RUNNERS.classification;
    runner.prepareModel(classifier, demoSentiment, new Rng(1));
    const classified = spyBatches(classifier, 'classify');
    const data = { train: [], dev: demoSentiment.load(undefined).dev.slice(0, 40) };
    const byDefault = await runner.evaluate(classifier, classifierTokenizer, demoSentiment, data, {});
    assert.deepEqual(classified, [32, 8]);
    classified.length = 0;
    const inSevens = await runner.evaluate(classifier, classifierTokenizer, demoSentiment, data, { batchSize: 7 });
    assert.deepEqual(classified, [7, 7, 7, 7, 7, 5]);
    assert.equal(inSevens.accuracy, byDefault.accuracy);
    assert.ok(Math.abs(inSevens.nll - byDefault.nll) < 1e-5, `${inSevens.nll} against ${byDefault.nll}`);
  } finally {
    classifier.dispose();
  }
});

const bin = packagePath('bin', 'run.js');

/** A column of a CSV without quoted commas, as strings. */
function csvColumn(csv: string, name: string): string[] {
  const [header, ...rows] = csv.trim().split('\n');
  const at = header!.split(',').indexOf(name);
  assert.ok(at >= 0, `no column ${name}`);
  return rows.map((row) => row.split(',')[at]!);
}

test("mceval run --eval-batch-size: in each run's config.json, key and row; 0 and x are refused in one line", () => {
  const out = mkdtempSync(join(tmpdir(), 'mceval-eval-batch-'));
  try {
    const base = ['--task', 'demo-sentiment', '--adapter', 'none', '--limit', '12', '--quiet'];
    const run = spawnSync(process.execPath, [bin, 'run', ...base, '--eval-batch-size', '5', '--out', out], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const runs = readdirSync(join(out, 'runs'));
    assert.equal(runs.length, 1);
    const config = JSON.parse(readFileSync(join(out, 'runs', runs[0]!, 'config.json'), 'utf8')) as {
      eval_batch_size?: number;
    };
    assert.equal(config.eval_batch_size, 5);
    // The size is part of the run's key: the default batch is another run, added beside it.
    const resumed = spawnSync(process.execPath, [bin, 'run', ...base, '--resume', '--out', out], { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(readdirSync(join(out, 'runs')).length, 2);
    // auto is a run of its own too; off webgpu it evaluates at the kind's default (classification: 32).
    const auto = spawnSync(
      process.execPath,
      [bin, 'run', ...base, '--eval-batch-size', 'auto', '--resume', '--out', out],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(auto.status, 0, auto.stderr);
    assert.equal(readdirSync(join(out, 'runs')).length, 3);
    // Each run's row says the size it evaluated at: given, the default, and auto's.
    assert.deepEqual(csvColumn(readFileSync(join(out, 'results.csv'), 'utf8'), 'eval_batch_size').sort(), [
      '32',
      '32',
      '5',
    ]);

    // Auto from 128 is a run of its own, which config.json says; plain auto from 64 is auto's run, already there.
    const from = (most: string) =>
      spawnSync(
        process.execPath,
        [bin, 'run', ...base, '--eval-batch-size', 'auto', '--max-eval-batch-size', most, '--resume', '--out', out],
        { encoding: 'utf8' },
      );
    assert.equal(from('64').status, 0);
    assert.equal(readdirSync(join(out, 'runs')).length, 3);
    assert.equal(from('128').status, 0);
    const added = readdirSync(join(out, 'runs')).filter((name) => !runs.includes(name));
    assert.equal(added.length, 3);
    const configs = added.map((name) => readFileSync(join(out, 'runs', name, 'config.json'), 'utf8'));
    assert.equal(configs.filter((text) => /"eval_batch_size": \{\s*"auto": 128\s*\}/.test(text)).length, 1);
    // Without auto it is refused in one line, which says what to do.
    for (const setting of [[], ['--eval-batch-size', '16']]) {
      const refused = spawnSync(
        process.execPath,
        [bin, 'run', ...base, ...setting, '--max-eval-batch-size', '128', '--out', join(out, 'refused')],
        { encoding: 'utf8' },
      );
      assert.notEqual(refused.status, 0);
      const lines = refused.stderr.trim().split('\n');
      assert.equal(lines.length, 1, refused.stderr);
      assert.match(
        lines[0]!,
        /--max-eval-batch-size sets where --eval-batch-size auto starts: add --eval-batch-size auto/,
      );
      assert.equal(existsSync(join(out, 'refused')), false, 'a refused run left its --out behind');
    }

    for (const bad of ['0', 'x']) {
      const refused = spawnSync(process.execPath, [bin, 'run', ...base, '--eval-batch-size', bad, '--out', out], {
        encoding: 'utf8',
      });
      assert.notEqual(refused.status, 0);
      const lines = refused.stderr.trim().split('\n');
      assert.equal(lines.length, 1, refused.stderr);
      assert.match(lines[0]!, /--eval-batch-size must be a whole number from 1 or auto/);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('mceval run --jobs 2 --eval-batch-size 5: each worker evaluates at the size given', () => {
  const out = mkdtempSync(join(tmpdir(), 'mceval-eval-batch-jobs-'));
  try {
    const args = ['run', '--task', 'demo-sentiment', '--adapter', 'lora', '--grid', 'lr=0.001,0.002', '--grid', 'bs=8'];
    const limits = ['--epochs', '1', '--train-limit', '16', '--limit', '12', '--quiet'];
    const run = spawnSync(
      process.execPath,
      [bin, ...args, ...limits, '--jobs', '2', '--eval-batch-size', '5', '--out', out],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(csvColumn(readFileSync(join(out, 'results.csv'), 'utf8'), 'eval_batch_size'), ['5', '5']);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
