/**
 * `--grad-accum auto` (train/auto-accumulation.ts), without a device: trainings that stand in for a run refuse every
 * count under a number of micro-batches with the DeviceRefusal the WebGPU backend throws. Auto starts at 1 and
 * doubles on each refusal only, up to one row per micro-batch; a task's later run at the same batch size starts where
 * the last settled; off webgpu auto is 1. A preset may say auto too. `mceval run` records the flag in config.json and
 * the count in the row. The device path runs in `npm run test:webgpu` (test/webgpu/refusal-retry.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceRefusal } from '../src/engine/webgpu-device-errors.js';
import { UserError } from '../src/errors.js';
import { runFlags } from '../src/cli/run-flags.js';
import { packagePath } from '../src/paths.js';
import { loadPreset } from '../src/peft/preset.js';
import {
  accumulationsFrom,
  forgetSettledAccumulations,
  trainWithAccumulation,
} from '../src/train/auto-accumulation.js';

/** A training refused in fewer than `fits` micro-batches, recording each count it is asked for. */
function refusingUnder(fits: number, tried: number[]) {
  return async (accumulation: number) => {
    tried.push(accumulation);
    if (accumulation < fits) throw new DeviceRefusal(`refused in ${accumulation}`);
    return `trained in ${accumulation}`;
  };
}

const onWebGpu = { task: 'rte', batchSize: 16, backend: 'webgpu' };

test('the counts auto tries: doubling from where it starts, then one row per micro-batch', () => {
  assert.deepEqual(accumulationsFrom(1, 16), [1, 2, 4, 8, 16]);
  assert.deepEqual(accumulationsFrom(1, 48), [1, 2, 4, 8, 16, 32, 48]);
  assert.deepEqual(accumulationsFrom(4, 16), [4, 8, 16]);
  assert.deepEqual(accumulationsFrom(1, 1), [1]);
  assert.deepEqual(accumulationsFrom(16, 16), [16]);
});

test('auto on webgpu doubles on each refusal; the same task and batch size start where it settled', async () => {
  forgetSettledAccumulations();
  const tried: number[] = [];
  assert.deepEqual(await trainWithAccumulation('auto', onWebGpu, refusingUnder(3, tried)), {
    result: 'trained in 4',
    accumulation: 4,
  });
  assert.deepEqual(tried, [1, 2, 4]);
  tried.length = 0;
  await trainWithAccumulation('auto', onWebGpu, refusingUnder(3, tried));
  assert.deepEqual(tried, [4]);
  // Another batch size, or another task, starts at 1 again.
  for (const other of [
    { ...onWebGpu, batchSize: 32 },
    { ...onWebGpu, task: 'mrpc' },
  ]) {
    tried.length = 0;
    await trainWithAccumulation('auto', other, refusingUnder(1, tried));
    assert.deepEqual(tried, [1]);
  }
  forgetSettledAccumulations();
});

test('auto gives up refused at one row per micro-batch; other errors and counts given are not retried', async () => {
  forgetSettledAccumulations();
  const tried: number[] = [];
  await assert.rejects(trainWithAccumulation('auto', onWebGpu, refusingUnder(100, tried)), /refused in 16/);
  assert.deepEqual(tried, [1, 2, 4, 8, 16]);
  tried.length = 0;
  const broken = async (accumulation: number) => {
    tried.push(accumulation);
    throw new UserError('The WebGPU device was lost');
  };
  await assert.rejects(trainWithAccumulation('auto', onWebGpu, broken), /was lost/);
  assert.deepEqual(tried, [1]);
  tried.length = 0;
  await assert.rejects(trainWithAccumulation(2, onWebGpu, refusingUnder(4, tried)), /refused in 2/);
  assert.deepEqual(tried, [2]);
  // Off webgpu, auto is 1.
  tried.length = 0;
  const onWasm = await trainWithAccumulation('auto', { ...onWebGpu, backend: 'wasm' }, refusingUnder(1, tried));
  assert.equal(onWasm.accumulation, 1);
  assert.deepEqual(tried, [1]);
  forgetSettledAccumulations();
});

test('--grad-accum reads a whole number from 1 or auto; anything else is one line naming the flag', async () => {
  const parse = (input: string) => runFlags['grad-accum'].parse(input, {} as never, {} as never);
  assert.equal(await parse('auto'), 'auto');
  assert.equal(await parse('4'), 4);
  for (const bad of ['0', '-2', '1.5', 'AUTO', '', 'x']) {
    await assert.rejects(
      parse(bad),
      (error: Error) =>
        error instanceof UserError &&
        error.message ===
          `--grad-accum must be a whole number from 1 or auto (as few micro-batches as the GPU holds), not "${bad}".`,
      bad,
    );
  }
});

const bin = packagePath('bin', 'run.js');

test('mceval run --grad-accum: the flag in config.json and the key, the count in the row; x refused in one line', () => {
  const out = mkdtempSync(join(tmpdir(), 'mceval-grad-accum-'));
  try {
    const base = ['run', '--task', 'demo-sentiment', '--adapter', 'lora', '--grid', 'lr=0.001', '--grid', 'bs=8'];
    const limits = ['--epochs', '1', '--train-limit', '16', '--limit', '8', '--quiet', '--out', out];
    for (const [i, setting] of ['2', 'auto'].entries()) {
      const run = spawnSync(process.execPath, [bin, ...base, ...limits, '--grad-accum', setting, '--resume'], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      // Each setting is a run of its own.
      assert.equal(readdirSync(join(out, 'runs')).length, i + 1);
    }
    const configs = readdirSync(join(out, 'runs')).map(
      (run) => JSON.parse(readFileSync(join(out, 'runs', run, 'config.json'), 'utf8')) as { grad_accum?: unknown },
    );
    assert.deepEqual(configs.map((config) => String(config.grad_accum)).sort(), ['2', 'auto']);
    // The rows: 2 as given; auto off webgpu is 1.
    const [header, ...rows] = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    const column = header!.split(',').indexOf('grad_accum');
    assert.deepEqual(rows.map((row) => row.split(',')[column]).sort(), ['1', '2']);

    const refused = spawnSync(process.execPath, [bin, ...base, ...limits, '--grad-accum', 'x'], { encoding: 'utf8' });
    assert.notEqual(refused.status, 0);
    assert.equal(
      refused.stderr,
      'Error: --grad-accum must be a whole number from 1 or auto (as few micro-batches as the GPU holds), not "x".\n',
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a preset\'s training.gradientAccumulation: a whole number from 1, "auto", or one line naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-accumulation-preset-'));
  try {
    const lora = JSON.parse(readFileSync(packagePath('adapters', 'lora.json'), 'utf8')) as { training: object };
    const presetWith = (value: unknown) => {
      const path = join(dir, `lora-${String(value)}.json`);
      writeFileSync(path, JSON.stringify({ ...lora, training: { ...lora.training, gradientAccumulation: value } }));
      return () => loadPreset(path).training.gradientAccumulation;
    };
    assert.equal(presetWith('auto')(), 'auto');
    assert.equal(presetWith(4)(), 4);
    assert.equal(loadPreset('lora').training.gradientAccumulation, 1);
    for (const bad of ['x', 0, 2.5, 'Auto']) {
      assert.throws(presetWith(bad), {
        name: 'UserError',
        message: /^"gradientAccumulation" in .* must be a whole number from 1 or "auto"\.$/,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
