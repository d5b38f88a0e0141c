/**
 * Joins and cuts by buffer copies (engine/kernels/webgpu/buffer-copies.ts) against a fake of tfjs-webgpu's backend:
 * which copies are recorded (source and target offsets, sizes), that the compute pass is ended first and every tensor
 * is kept until submitted, and when nothing is recorded — a join that is not of whole blocks, a buffer that does not
 * allow copies (the result given back), small host values tfjs joins on the host, another element type, and
 * MCEVAL_WEBGPU_JOINS=shaders. test/webgpu/joins.test.ts runs them on a device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { cutByCopies, joinedByCopies } from '../src/engine/kernels/webgpu/buffer-copies.js';
import type { WebGpuBackendLike } from '../src/engine/kernels/webgpu/shader.js';
import { withEnv } from './helpers.js';

// WebGPU's usage bits, where no WebGPU implementation defined them.
const USAGE = { COPY_SRC: 0x4, COPY_DST: 0x8, STORAGE: 0x80 };
const globals = globalThis as { GPUBufferUsage?: typeof USAGE };
globals.GPUBufferUsage ??= USAGE;
const COPYABLE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

function fakeBackend(options: { usage?: (info: TensorInfo) => number; onHost?: boolean } = {}) {
  const buffers = new Map<object, { size: number; usage: number }>();
  const infos = new Map<object, TensorInfo>();
  const events: string[] = [];
  const copies: [number, number, number, number, number][] = [];
  const disposed: object[] = [];
  const number = (buffer: object) => [...buffers.values()].indexOf(buffer as { size: number; usage: number });
  const backend = {
    tensorMap: { get: (dataId: object) => ({ resource: buffers.get(dataId) }) },
    uploadToGPU(dataId: object) {
      if (buffers.has(dataId)) return;
      const info = infos.get(dataId)!;
      const usage = options.usage?.(info) ?? COPYABLE;
      buffers.set(dataId, { size: 4 * info.shape.reduce((a, b) => a * b, 1), usage });
    },
    ensureCommandEncoderReady: () => events.push('encoder'),
    endComputePassEncoder: () => events.push('end pass'),
    commandEncoder: {
      copyBufferToBuffer(source: object, sourceOffset: number, target: object, targetOffset: number, size: number) {
        events.push('copy');
        copies.push([number(source), sourceOffset, number(target), targetOffset, size]);
      },
    },
    commandQueueOwnedIds: new Set<object>(),
    makeTensorInfo(shape: number[], dtype: string): TensorInfo {
      const info = { dataId: {}, shape, dtype } as TensorInfo;
      infos.set(info.dataId, info);
      return info;
    },
    disposeData: (dataId: object) => disposed.push(dataId) > 0,
    shouldExecuteOnCPU: () => options.onHost ?? false,
  };
  const tensor = (shape: number[], dtype = 'float32') => backend.makeTensorInfo(shape, dtype);
  return { gpu: backend as unknown as WebGpuBackendLike, backend, tensor, events, copies, disposed };
}

test('a join of whole blocks is one copy per input, after the compute pass, every tensor kept until submitted', () => {
  const fake = fakeBackend();
  const inputs = [fake.tensor([2, 3]), fake.tensor([0, 3]), fake.tensor([1, 3]), fake.tensor([4, 3])];
  const out = joinedByCopies(fake.gpu, inputs, 0, [7, 3])!;
  assert.deepEqual(out.shape, [7, 3]);
  assert.deepEqual(fake.events, ['encoder', 'end pass', 'copy', 'copy', 'copy']);
  // Buffers are numbered as uploaded: the first input, the result (1), then the other non-empty inputs.
  assert.deepEqual(fake.copies, [
    [0, 0, 1, 0, 24],
    [2, 0, 1, 24, 12],
    [3, 0, 1, 36, 48],
  ]);
  for (const info of [inputs[0]!, inputs[2]!, inputs[3]!, out])
    assert.ok(fake.backend.commandQueueOwnedIds.has(info.dataId));
  // Along a later axis, where every axis before it has size 1: still whole blocks.
  const rows = fakeBackend();
  assert.ok(joinedByCopies(rows.gpu, [rows.tensor([1, 5]), rows.tensor([1, 2])], 1, [1, 7]) !== undefined);
  assert.deepEqual(rows.copies.at(-1), [2, 0, 1, 20, 8]);
});

test('a cut into whole blocks is one copy per part, from consecutive offsets', () => {
  const fake = fakeBackend();
  const value = fake.tensor([1, 3, 2, 2]);
  const parts = cutByCopies(fake.gpu, value, 1)!;
  assert.deepEqual(
    parts.map((part) => part.shape),
    [
      [1, 2, 2],
      [1, 2, 2],
      [1, 2, 2],
    ],
  );
  assert.deepEqual(fake.copies, [
    [0, 0, 1, 0, 16],
    [0, 16, 2, 0, 16],
    [0, 32, 3, 0, 16],
  ]);
  assert.deepEqual(fake.events.slice(0, 2), ['encoder', 'end pass']);
});

test('joins and cuts that are not of whole blocks, or that copies cannot take, record nothing (host values when asked)', async () => {
  const cases: [string, (fake: ReturnType<typeof fakeBackend>) => unknown, Parameters<typeof fakeBackend>[0]?][] = [
    ['rows before the axis', (f) => joinedByCopies(f.gpu, [f.tensor([2, 3]), f.tensor([2, 1])], 1, [2, 4])],
    ['a cut with rows before the axis', (f) => cutByCopies(f.gpu, f.tensor([2, 3]), 1)],
    ['one non-empty input', (f) => joinedByCopies(f.gpu, [f.tensor([2]), f.tensor([0])], 0, [2])],
    ['bool values', (f) => joinedByCopies(f.gpu, [f.tensor([2], 'bool'), f.tensor([2], 'bool')], 0, [4])],
    ['mixed types', (f) => joinedByCopies(f.gpu, [f.tensor([2]), f.tensor([2], 'int32')], 0, [4])],
    ['small host values', (f) => joinedByCopies(f.gpu, [f.tensor([2]), f.tensor([2])], 0, [4]), { onHost: true }],
  ];
  for (const [name, call, options] of cases) {
    const fake = fakeBackend(options);
    assert.equal(call(fake), undefined, name);
    assert.deepEqual(fake.events, [], name);
  }
  // Asked to copy small host values as well (a group's biases), they are uploaded and copied.
  const host = fakeBackend({ onHost: true });
  assert.ok(joinedByCopies(host.gpu, [host.tensor([2]), host.tensor([2])], 0, [4], { hostValuesToo: true }));
  assert.equal(host.events.filter((event) => event === 'copy').length, 2);
  const shaders = fakeBackend();
  const joined = await withEnv('MCEVAL_WEBGPU_JOINS', 'shaders', () =>
    joinedByCopies(shaders.gpu, [shaders.tensor([2]), shaders.tensor([2])], 0, [4]),
  );
  assert.equal(joined, undefined);
  assert.deepEqual(shaders.events, []);
});

test('where a buffer does not allow copies, nothing is recorded and the result is given back', () => {
  const noSource = fakeBackend({ usage: (info) => (info.shape[0] === 3 ? USAGE.STORAGE : COPYABLE) });
  assert.equal(joinedByCopies(noSource.gpu, [noSource.tensor([2]), noSource.tensor([3])], 0, [5]), undefined);
  assert.deepEqual(noSource.events, []);
  assert.equal(noSource.disposed.length, 1);
  const noTarget = fakeBackend({ usage: (info) => (info.shape[0] === 2 ? USAGE.STORAGE | USAGE.COPY_SRC : COPYABLE) });
  assert.equal(cutByCopies(noTarget.gpu, noTarget.tensor([4, 2]), 0), undefined);
  assert.deepEqual(noTarget.events, []);
  assert.equal(noTarget.disposed.length, 4);
});
