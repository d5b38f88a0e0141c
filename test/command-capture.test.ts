/**
 * compareStreams (src/engine/replay/command-capture.ts): two steps' streams are the same commands where every event
 * but the writes' bytes and the last read's staging buffer is equal, place by place; a write whose bytes differ is
 * named with the pipeline of the next dispatch. The webgpu half (test/webgpu/step-stream.test.ts) captures real steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStreams, type StreamEvent } from '../src/engine/replay/command-capture.js';

const write = (buffer: number, bytes: string, uniform = true): StreamEvent => ({
  kind: 'write',
  buffer,
  offset: 0,
  uniform,
  bytes,
});
const dispatch = (pipeline: number, group: number, workgroups = '4×1×1'): StreamEvent => ({
  kind: 'dispatch',
  pipeline,
  group,
  workgroups,
});
const copy = (from: number, to: number, span = '0→0:64', read = false): StreamEvent => ({
  kind: 'copy',
  from,
  to,
  span,
  read,
});
const step: StreamEvent[] = [
  write(1, '00000001'),
  dispatch(7, 20),
  copy(3, 4),
  write(2, 'aaaa', false),
  write(5, '0000'),
  dispatch(8, 21),
  { kind: 'submit', buffers: 1 },
  // The step's read: its numbers copied into a staging buffer.
  copy(9, 10, '0→0:12', true),
  { kind: 'submit', buffers: 1 },
];

test('the same commands with new bytes in two writes: each named by the pipeline that reads it next', () => {
  const next = step.map((event, at) => (at === 0 ? write(1, '00000002') : at === 3 ? write(2, 'bbbb', false) : event));
  const comparison = compareStreams(step, next);
  assert.equal(comparison.sameCommands, true);
  assert.deepEqual(comparison.varyingWrites, [
    { at: 0, uniform: true, bytes: 4, before: 7 },
    { at: 3, uniform: false, bytes: 2, before: 8 },
  ]);
  assert.deepEqual(compareStreams(step, step), { sameCommands: true, varyingWrites: [] });
});

test('another bind group, buffer, workgroup count, copy, write size or length is a different stream', () => {
  const changes: [number, StreamEvent][] = [
    [1, dispatch(7, 22)],
    [1, dispatch(7, 20, '5×1×1')],
    [2, copy(3, 4, '0→64:64')],
    [2, copy(3, 6)],
    [7, copy(11, 10, '0→0:12', true)],
    [7, copy(9, 10, '0→0:16', true)],
    [4, write(6, '0000')],
    [4, write(5, '000000')],
    [6, { kind: 'create', object: 'bind group' }],
  ];
  for (const [at, event] of changes) {
    const other = step.map((original, k) => (k === at ? event : original));
    const comparison = compareStreams(step, other);
    assert.equal(comparison.sameCommands, false, JSON.stringify(event));
    assert.deepEqual(comparison.firstDifference, { at, first: step[at], second: event });
  }
  const longer = compareStreams(step, [...step, dispatch(9, 23)]);
  assert.deepEqual(longer.firstDifference, { at: step.length, first: undefined, second: dispatch(9, 23) });
});

test("the step's read may go to another staging buffer; an earlier read may not, nor a copy that is no read", () => {
  const readElsewhere = step.map((event, at) => (at === 7 ? copy(9, 12, '0→0:12', true) : event));
  assert.deepEqual(compareStreams(step, readElsewhere), { sameCommands: true, varyingWrites: [] });
  // The read is each stream's last: one read later in the stream is another command.
  const readLater = [...step.slice(0, 7), { kind: 'submit', buffers: 1 } as const, copy(9, 12, '0→0:12', true)];
  assert.equal(compareStreams(step, readLater).sameCommands, false);
  const twoReads = [...step, copy(13, 14, '0→0:4', true)];
  const earlierElsewhere = twoReads.map((event, at) => (at === 7 ? copy(9, 12, '0→0:12', true) : event));
  assert.deepEqual(compareStreams(twoReads, earlierElsewhere).firstDifference, {
    at: 7,
    first: twoReads[7],
    second: earlierElsewhere[7],
  });
  const noRead = step.map((event, at) => (at === 7 ? copy(9, 12, '0→0:12') : event));
  assert.equal(compareStreams(step, noRead).sameCommands, false);
});
