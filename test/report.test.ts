import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvColumns, toCsv } from '../src/report/csv.js';
import { formatDuration, formatProgress } from '../src/report/progress.js';
import { renderSummaryTable } from '../src/report/table.js';

test('CSV: union of columns in first-seen order; NaN and ∞ as pandas reads them; quoting', () => {
  const rows: Record<string, string | number>[] = [
    { a: 1, b: Number.NaN },
    { a: 2, c: Infinity, b: 'x,y' },
  ];
  assert.deepEqual(csvColumns(rows), ['a', 'b', 'c']);
  assert.equal(toCsv(rows), 'a,b,c\n1,nan,\n2,"x,y",inf\n');
});

test('progress line shows run, epoch, step, loss, bar and ETA', () => {
  const line = formatProgress(
    { label: 'demo/lora lr=0.001 bs=16', run: 2, runs: 6, epoch: 1, epochs: 3, step: 10, steps: 300, loss: 0.6931 },
    0.25,
    95,
    8,
  );
  assert.equal(
    line,
    'run 2/6 demo/lora lr=0.001 bs=16 | epoch 1/3 | step 10/300 | loss 0.6931 | [##------] 25% | ETA 1m35s',
  );
  assert.equal(formatDuration(Number.NaN), '?');
  assert.equal(formatDuration(42.4), '42s');
});

test('the table flags diverged runs', () => {
  const table = renderSummaryTable([
    {
      task: 't',
      adapter: 'lora',
      runs: 6,
      diverged_runs: 1,
      best_accuracy: 0.9,
      median_accuracy: 0.7,
      worst_accuracy: 0.5,
      spread_accuracy: 0.4,
      median_nll: 0.5,
      extrinsic_robustness: 0.7,
      intrinsic_robustness: 2,
    },
  ]);
  assert.match(table, /6 \(1 diverged\)/);
  assert.match(table, /0\.9000.*0\.7000.*0\.5000.*0\.4000.*0\.5000.*0\.7000.*2\.0000/);
});

test('report cells: for a loss (NLL) the best run is the lowest and the worst the highest', async () => {
  const { buildReport } = await import('../src/report/report-model.js');
  const run = (lr: number, accuracy: number, nll: number) => ({
    key: `k${lr}`,
    source: 'test',
    result: { task: 't', adapter: 'lora', lr, batch_size: 16, seed: 1, accuracy, nll, diverged: false } as never,
  });
  const runs = [run(0.1, 0.9, 0.2), run(0.2, 0.6, 0.9), run(0.3, 0.7, 0.5)];
  const [nll] = buildReport(runs, { metric: 'nll', seed: 1 }).cells;
  assert.deepEqual([nll!.best, nll!.worst, nll!.spread], [0.2, 0.9, 0.9 - 0.2]);
  const [accuracy] = buildReport(runs, { metric: 'accuracy', seed: 1 }).cells;
  assert.deepEqual([accuracy!.best, accuracy!.worst], [0.9, 0.6]);
});
