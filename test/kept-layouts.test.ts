/**
 * kept-layouts.ts: pipelines that answer getBindGroupLayout from what they gave before, made by a device's
 * createComputePipeline and createComputePipelineAsync alike. Fake pipelines stand for Dawn's (each call a new object,
 * as Dawn's wrappers are); the webgpu suite runs every kernel through the real ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepLayouts, type LayoutGiver } from '../src/engine/kept-layouts.js';

function fakeDevice() {
  const asked: number[] = [];
  const pipeline = (): LayoutGiver => ({
    getBindGroupLayout(index: number) {
      asked.push(index);
      return { index };
    },
  });
  return {
    asked,
    createComputePipeline: (_descriptor: object) => pipeline(),
    createComputePipelineAsync: async (_descriptor: object) => pipeline(),
  };
}

test('a pipeline gives the same layout for an index each time, asking the device once per index', async () => {
  const device = fakeDevice();
  keepLayouts(device);
  const made = device.createComputePipeline({});
  const first = made.getBindGroupLayout(0);
  assert.equal(made.getBindGroupLayout(0), first);
  assert.equal(made.getBindGroupLayout(0), first);
  assert.notEqual(made.getBindGroupLayout(1), first);
  assert.deepEqual(device.asked, [0, 1]);
  // Another pipeline has layouts of its own.
  const other = await device.createComputePipelineAsync({});
  assert.notEqual(other.getBindGroupLayout(0), first);
  assert.equal(other.getBindGroupLayout(0), other.getBindGroupLayout(0));
  assert.deepEqual(device.asked, [0, 1, 0]);
});
