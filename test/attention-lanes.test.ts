/**
 * How many invocations share an attention row on webgpu (engine/kernels/webgpu/attention-lanes.ts): chosen by head
 * size where the adapter has subgroups, set by MCEVAL_WEBGPU_ATTENTION_LANES, always lowered to what the head size and
 * the adapter's smallest subgroup allow; a bad setting or one the adapter cannot honour is one clear error. Pure, so
 * it runs in the default suite; the kernels at each lane count run in `npm run test:webgpu`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attentionLaneSetting,
  attentionLanes,
  checkAttentionLanes,
  subgroupFloor,
} from '../src/engine/kernels/webgpu/attention-lanes.js';
import type { WebGpuAdapterReport } from '../src/engine/webgpu.js';
import { withEnv } from './helpers.js';

/** An adapter report with only what the lane choice reads. */
function adapter(subgroups: boolean, sizes?: { min: number; max: number }): WebGpuAdapterReport {
  return {
    vendor: 'test',
    architecture: '',
    device: '',
    description: '',
    isFallbackAdapter: false,
    features: { subgroups, shaderF16: false, subgroupMatrix: false, timestampQuery: false },
    limits: {},
    robustness: 'on',
    featureNames: [],
    ...(sizes === undefined ? {} : { subgroupSizes: sizes }),
  };
}

test('by head size: the fewest lanes that leave each at most 32 floats of a row', () => {
  // dh4 = head size / 4.
  const chosen = [8, 16, 32, 64, 128, 256].map((dh) => attentionLanes(dh / 4, 32, 'auto'));
  assert.deepEqual(chosen, [1, 1, 1, 2, 4, 8]);
  // A head of 80 (20 vectors): 4 lanes of 5; of 96 (24): 4 lanes of 6.
  assert.equal(attentionLanes(20, 32, 'auto'), 4);
  assert.equal(attentionLanes(24, 32, 'auto'), 4);
});

test('lanes are lowered to divide the head and to fit the smallest subgroup', () => {
  assert.equal(attentionLanes(32, 1, 'auto'), 1, 'no subgroups: one lane');
  assert.equal(attentionLanes(32, 4, 'auto'), 4, 'subgroups of 4 at least');
  assert.equal(attentionLanes(64, 8, 32), 8);
  assert.equal(attentionLanes(2, 32, 8), 2, 'a head of 8 has two vectors');
  assert.equal(attentionLanes(20, 32, 8), 4, '20 vectors: 4 lanes of 5, not 8');
  assert.equal(attentionLanes(5, 32, 4), 1, 'an odd number of vectors: one lane');
  assert.equal(attentionLanes(16, 32, 1), 1, 'set to 1');
});

test('the adapter’s smallest subgroup: its own, 4 where it does not say, 1 without subgroups', () => {
  assert.equal(subgroupFloor(adapter(true, { min: 8, max: 8 })), 8);
  assert.equal(subgroupFloor(adapter(true)), 4);
  assert.equal(subgroupFloor(adapter(false)), 1);
  assert.equal(subgroupFloor(undefined), 1);
});

test('the setting: unset or auto, a power of two up to 32, anything else one clear error', async () => {
  for (const value of [undefined, '', 'auto']) {
    assert.equal(await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', value, attentionLaneSetting), 'auto');
  }
  assert.equal(await withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', '4', attentionLaneSetting), 4);
  for (const value of ['3', '64', 'two', '0']) {
    await assert.rejects(
      withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', value, attentionLaneSetting),
      new RegExp(`^UserError: MCEVAL_WEBGPU_ATTENTION_LANES=${value} is not a lane count mceval has: use 1, 2, 4`),
    );
  }
});

test('a set lane count the adapter cannot honour stops the engine with one line', async () => {
  const check = (report: WebGpuAdapterReport, lanes: string) =>
    withEnv('MCEVAL_WEBGPU_ATTENTION_LANES', lanes, () => checkAttentionLanes(report));
  await assert.rejects(check(adapter(false), '2'), /=2 needs WebGPU subgroups, which this adapter does not offer/);
  await assert.rejects(check(adapter(true, { min: 8, max: 8 }), '16'), /=16 is more than .* smallest subgroup \(8\)/);
  await check(adapter(true, { min: 8, max: 8 }), '8');
  await check(adapter(false), '1');
  await check(adapter(false), 'auto');
});
