import { test } from 'node:test';
import assert from 'node:assert/strict';
import { robustness } from '../src/report/robustness.js';
import { median } from '../src/metrics/quantile.js';
import { summarize, type RunResult } from '../src/report/results.js';

test('median of odd and even counts (hand-computed)', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.ok(Math.abs(median([0.9, 0.5, 0.7, 0.6]) - 0.65) < 1e-12);
  assert.equal(median([5]), 5);
  assert.ok(Number.isNaN(median([])));
});

test('a NaN (diverged) value counts as +∞ in the median', () => {
  assert.equal(median([0.3, Number.NaN, 0.5]), 0.5);
  assert.equal(median([0.3, Number.NaN]), Infinity);
});

test('robustness over an odd grid (hand-computed)', () => {
  const stats = robustness([0.8, 0.6, 0.9, 0.5, 0.7], [0.5, 0.4, 0.25, 1, 0.8]);
  assert.equal(stats.runs, 5);
  assert.equal(stats.best, 0.9);
  assert.equal(stats.worst, 0.5);
  assert.equal(stats.median, 0.7);
  assert.ok(Math.abs(stats.spread - 0.4) < 1e-12);
  assert.equal(stats.medianNll, 0.5);
  assert.equal(stats.extrinsic, 0.7);
  assert.equal(stats.intrinsic, 2);
});

test('robustness over an even grid with a diverged run (hand-computed)', () => {
  const stats = robustness([0.9, 0.5, 0.8, 0.7], [0.2, Number.NaN, 0.3, 0.6]);
  assert.equal(stats.median, 0.75);
  assert.ok(Math.abs(stats.spread - 0.4) < 1e-12);
  assert.ok(Math.abs(stats.medianNll - 0.45) < 1e-12); // (0.3 + 0.6) / 2, the NaN sorted last
  assert.ok(Math.abs(stats.intrinsic - 1 / 0.45) < 1e-12);
});

test('summarize groups runs by task × adapter', () => {
  const run = (adapter: string, accuracy: number, nll: number, diverged = false): RunResult => ({
    task: 't',
    adapter,
    method: 'lora',
    model: 'builtin:tiny',
    backend: 'wasm',
    seed: 1,
    lr: 1,
    batch_size: 1,
    epochs: 1,
    max_length: 8,
    optimizer: 'adamw',
    lr_scheduler: 'linear',
    weight_decay: 0,
    warmup_ratio: 0,
    max_grad_norm: 1,
    hyperparameters: {},
    trainable_params: 1,
    grad_accum: 1,
    train_examples: 8,
    eval_examples: 8,
    steps: 1,
    final_train_loss: 0,
    diverged,
    accuracy,
    nll,
    train_seconds: 0,
    log: [],
  });
  const rows = summarize([run('a', 0.6, 1), run('b', 0.9, 0.1), run('a', 0.8, 0.5), run('a', 0.5, Number.NaN, true)]);
  assert.equal(rows.length, 2);
  const a = rows.find((row) => row.adapter === 'a')!;
  assert.equal(a.runs, 3);
  assert.equal(a.diverged_runs, 1);
  assert.equal(a.median_accuracy, 0.6);
  assert.equal(a.median_nll, 1);
  assert.ok(Math.abs(a.spread_accuracy - 0.3) < 1e-12);
});
