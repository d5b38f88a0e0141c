/**
 * `--eval-batch-size auto` (runners/eval-batch.ts), without a device: evaluations that stand in for one refuse every
 * batch over a size with the DeviceRefusal the WebGPU backend throws. Auto starts at 64 (or --max-eval-batch-size) and
 * halves on each refusal only, a task's later run starts where the last settled, and off webgpu auto is the kind's
 * default. The device path
 * runs in `npm run test:webgpu` (test/webgpu/refusal-retry.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceRefusal } from '../src/engine/webgpu-device-errors.js';
import { UserError } from '../src/errors.js';
import { runFlags } from '../src/cli/run-flags.js';
import { evaluateAtBatchSize, forgetSettledBatchSizes, type EvalBatchSetting } from '../src/runners/eval-batch.js';

/** An evaluation that refuses batches over `fits`, recording each size it is asked for. */
function refusingOver(fits: number, tried: number[]) {
  return async (batchSize: number) => {
    tried.push(batchSize);
    if (batchSize > fits) throw new DeviceRefusal(`refused ${batchSize}`);
    return `scored at ${batchSize}`;
  };
}

const onWebGpu = { task: 'sst2', backend: 'webgpu', kindDefault: 32 };

test('auto on webgpu starts at 64, halves on each refusal, and the next run of the task starts where it settled', async () => {
  forgetSettledBatchSizes();
  const tried: number[] = [];
  const first = await evaluateAtBatchSize('auto', onWebGpu, refusingOver(12, tried));
  assert.deepEqual(tried, [64, 32, 16, 8]);
  assert.deepEqual(first, { scores: 'scored at 8', batchSize: 8 });
  tried.length = 0;
  assert.equal((await evaluateAtBatchSize('auto', onWebGpu, refusingOver(12, tried))).batchSize, 8);
  assert.deepEqual(tried, [8]);
  // Another task starts at 64 again.
  tried.length = 0;
  await evaluateAtBatchSize('auto', { ...onWebGpu, task: 'rte' }, refusingOver(100, tried));
  assert.deepEqual(tried, [64]);
  forgetSettledBatchSizes();
});

test('auto from another size (--max-eval-batch-size) starts there, but not above where the task settled', async () => {
  forgetSettledBatchSizes();
  const tried: number[] = [];
  assert.equal((await evaluateAtBatchSize({ auto: 256 }, onWebGpu, refusingOver(100, tried))).batchSize, 64);
  assert.deepEqual(tried, [256, 128, 64]);
  // A later run from a smaller size starts at that size, and one from a larger size where the task settled.
  tried.length = 0;
  await evaluateAtBatchSize({ auto: 24 }, onWebGpu, refusingOver(100, tried));
  assert.deepEqual(tried, [24]);
  tried.length = 0;
  await evaluateAtBatchSize({ auto: 512 }, onWebGpu, refusingOver(100, tried));
  assert.deepEqual(tried, [24]);
  // Off webgpu it is the kind's default, as plain auto.
  tried.length = 0;
  await evaluateAtBatchSize({ auto: 256 }, { ...onWebGpu, backend: 'wasm' }, refusingOver(100, tried));
  assert.deepEqual(tried, [32]);
  forgetSettledBatchSizes();
});

test('auto gives up after a refusal at 1, and any other error is thrown at once', async () => {
  forgetSettledBatchSizes();
  const tried: number[] = [];
  await assert.rejects(evaluateAtBatchSize('auto', onWebGpu, refusingOver(0, tried)), /refused 1/);
  assert.deepEqual(tried, [64, 32, 16, 8, 4, 2, 1]);
  tried.length = 0;
  const broken = async (batchSize: number) => {
    tried.push(batchSize);
    throw new UserError('The WebGPU device was lost');
  };
  await assert.rejects(evaluateAtBatchSize('auto', onWebGpu, broken), /was lost/);
  assert.deepEqual(tried, [64]);
  // A size given is never halved.
  tried.length = 0;
  await assert.rejects(evaluateAtBatchSize(16, onWebGpu, refusingOver(8, tried)), /refused 16/);
  assert.deepEqual(tried, [16]);
  forgetSettledBatchSizes();
});

test('a size given, none given, and auto off webgpu: that size, the kind default, the kind default', async () => {
  const cases: [EvalBatchSetting | undefined, string, number][] = [
    [5, 'webgpu', 5],
    [5, 'wasm', 5],
    [undefined, 'webgpu', 32],
    ['auto', 'wasm', 32],
    ['auto', 'cpu', 32],
  ];
  for (const [setting, backend, expected] of cases) {
    const tried: number[] = [];
    const result = await evaluateAtBatchSize(setting, { ...onWebGpu, backend }, refusingOver(100, tried));
    assert.deepEqual(tried, [expected], `${setting} on ${backend}`);
    assert.equal(result.batchSize, expected);
  }
});

test('--eval-batch-size reads a whole number from 1 or auto; anything else is one line naming the flag', async () => {
  const parse = (input: string) => runFlags['eval-batch-size'].parse(input, {} as never, {} as never);
  assert.equal(await parse('auto'), 'auto');
  assert.equal(await parse(' 24 '), 24);
  for (const bad of ['0', '-4', '2.5', '1e3', 'Auto', 'auto:4', '', 'x']) {
    await assert.rejects(
      parse(bad),
      (error: Error) =>
        error instanceof UserError &&
        error.message ===
          `--eval-batch-size must be a whole number from 1 or auto (the largest the GPU holds), not "${bad}".`,
      bad,
    );
  }
});
