/**
 * Progress where stderr is no terminal: a heartbeat at most every 30 s, a line per finished run (with what auto settled
 * on); none when quiet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SweepProgress } from '../src/report/sweep-progress.js';
import type { SweepEvent, SweepPlanEntry } from '../src/sweep/run-sweep.js';
import type { RunResult } from '../src/report/results.js';

// Only the fields progress reads: the task's name and training-set size, the preset's name and accumulation, the point,
// the epochs.
const entry = {
  task: { kind: 'classification', task: { name: 'demo' }, data: { train: new Array(64).fill(0), dev: [] } },
  preset: { name: 'lora', training: { gradientAccumulation: 1 } },
  point: { lr: 0.001, bs: 16 },
  epochs: 1,
} as unknown as SweepPlanEntry;
const plan = [entry, entry];
const pipe = { isTTY: false } as NodeJS.WriteStream;

function stepEvent(index: number, step: number): SweepEvent {
  return { kind: 'step', index, total: 2, entry, progress: { epoch: 0, step, totalSteps: 4, loss: 0.5 } };
}

test('a heartbeat line every 30 s at most, with run, step and ETA, then one line per finished run', () => {
  let clock = 0;
  const lines: string[] = [];
  const progress = new SweepProgress(plan, pipe, (line) => lines.push(line), { now: () => clock });
  clock = 10_000;
  progress.onEvent(stepEvent(0, 1));
  assert.deepEqual(lines, []);
  clock = 30_000;
  progress.onEvent(stepEvent(0, 2));
  assert.equal(lines.length, 1);
  // 2 of 8 steps in 30 s: 90 s to go.
  assert.match(
    lines[0]!,
    /^run 1\/2 demo\/lora lr=0\.001 bs=16 \| epoch 1\/1 \| step 2\/4 \| loss 0\.5000 \| .* 25% \| ETA 1m30s$/,
  );
  clock = 50_000;
  progress.onEvent(stepEvent(0, 3));
  assert.equal(lines.length, 1);
  const result = {
    task: 'demo',
    adapter: 'lora',
    lr: 0.001,
    batch_size: 16,
    accuracy: 0.5,
    nll: 0.7,
    diverged: false,
    train_seconds: 60,
  };
  progress.onEvent({
    kind: 'run-end',
    index: 0,
    total: 2,
    job: { planIndex: 0, entry: plan[0]! },
    result: result as unknown as RunResult,
  });
  assert.equal(lines[1], 'run 1/2 demo/lora lr=0.001 bs=16: accuracy 0.5000, NLL 0.7000, 60s');
  clock = 61_000;
  progress.onEvent(stepEvent(1, 1));
  assert.match(lines[2]!, /^run 2\/2 .* step 1\/4 .* 63% \|/);
});

test('quiet (no stream): no heartbeat at all', () => {
  let clock = 0;
  const lines: string[] = [];
  const progress = new SweepProgress(plan, null, (line) => lines.push(line), { now: () => clock });
  clock = 120_000;
  progress.onEvent(stepEvent(0, 2));
  assert.deepEqual(lines, []);
});

test('a run line says what auto settled on, where auto was asked for by a flag or the preset', () => {
  const result = { task: 'demo', adapter: 'lora', lr: 0.001, batch_size: 16, accuracy: 0.5, nll: 0.7, diverged: false };
  const lineFor = (settings: object, preset: object = entry.preset) => {
    const lines: string[] = [];
    const progress = new SweepProgress(plan, pipe, (line) => lines.push(line), { settings });
    const planned = { ...entry, preset } as SweepPlanEntry;
    const ran = { ...result, train_seconds: 9, grad_accum: 4, eval_batch_size: 32 } as unknown as RunResult;
    progress.onEvent({ kind: 'run-end', index: 0, total: 2, job: { planIndex: 0, entry: planned }, result: ran });
    return lines[0]!.replace(/^.*9s/, '');
  };
  assert.equal(lineFor({}), '');
  assert.equal(lineFor({ gradientAccumulation: 4, evalBatchSize: 32 }), '');
  assert.equal(lineFor({ gradientAccumulation: 'auto', evalBatchSize: 'auto' }), '; auto: grad-accum 4, eval batch 32');
  assert.equal(lineFor({ evalBatchSize: 'auto' }), '; auto: eval batch 32');
  assert.equal(lineFor({}, { name: 'lora', training: { gradientAccumulation: 'auto' } }), '; auto: grad-accum 4');
  // The flag overrides the preset.
  assert.equal(lineFor({ gradientAccumulation: 2 }, { name: 'lora', training: { gradientAccumulation: 'auto' } }), '');
});
