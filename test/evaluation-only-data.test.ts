/**
 * A sweep that only evaluates (`--adapter none`, the baseline) reads no training split: a data directory with the
 * evaluation files alone is enough, as it is for lm-eval. A sweep that trains still needs them, and a missing
 * evaluation file is named as the one missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mceval } from './helpers.js';

const DEV = [
  'index\tsentence1\tsentence2\tlabel',
  '0\tA cat sleeps on the mat.\tAn animal sleeps.\tentailment',
  '1\tThe shop opens at nine.\tThe shop never opens.\tnot_entailment',
  '2\tRain fell all day.\tIt was wet.\tentailment',
].join('\n');

/** Runs `mceval run` on a data directory holding only `files`; returns its exit, stderr and results.json. */
function runWith(files: Record<string, string>, args: readonly string[]) {
  const root = mkdtempSync(join(tmpdir(), 'mceval-eval-only-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(root, 'data', name, '..'), { recursive: true });
      writeFileSync(join(root, 'data', name), text);
    }
    const out = join(root, 'out');
    const { code, stderr } = mceval(['run', ...args, '--data', join(root, 'data'), '--out', out, '--quiet']);
    const results = join(out, 'results.json');
    return { code, stderr, results: existsSync(results) ? JSON.parse(readFileSync(results, 'utf8')) : undefined };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('the baseline runs on a task whose training file is absent; a trained adapter asks for it', () => {
  const baseline = runWith({ 'rte/dev.tsv': DEV }, ['--task', 'rte', '--adapter', 'none']);
  assert.equal(baseline.code, 0, baseline.stderr);
  const run = JSON.stringify(baseline.results);
  assert.match(run, /"train_examples":0/);
  assert.match(run, /"eval_examples":3/);
  for (const adapter of ['lora', 'lora,none']) {
    const trained = runWith({ 'rte/dev.tsv': DEV }, ['--task', 'rte', '--adapter', adapter]);
    assert.equal(trained.code, 2);
    assert.match(
      trained.stderr,
      /^Error: Task rte: data file not found at \S+\/rte\/train\.tsv, nor a Hugging Face export/,
    );
    assert.equal(trained.stderr.trim().split('\n').length, 1);
  }
});

test('an evaluation file that is missing is the one named, not the training file before it', () => {
  const { code, stderr } = runWith({ 'notes.txt': '' }, ['--task', 'piqa-mc', '--adapter', 'none']);
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^Error: Task piqa-mc: data file not found at \S+\/piqa\/valid\.jsonl, nor a Hugging Face export/,
  );
});
