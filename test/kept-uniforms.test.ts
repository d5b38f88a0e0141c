/**
 * kept-uniforms.ts on a fake queue: a uniform buffer's write of the bytes it last got is left out; other bytes, another
 * buffer, a storage buffer, a write from an offset (which leaves the bytes unknown) and every write under
 * MCEVAL_WEBGPU_BIND_GROUPS=new go through. The webgpu suite's kept-bind-groups.test.ts checks steps both ways give
 * the same losses bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipRepeatedUniformWrites, type WritingQueue } from '../src/engine/kept-uniforms.js';
import { applyBindGroupsSetting } from '../src/engine/kept-bind-groups.js';
import { withEnv } from './helpers.js';

/** GPUBufferUsage.UNIFORM | COPY_DST, and STORAGE | COPY_DST. */
const [UNIFORM, STORAGE] = [0x0040 | 0x0008, 0x0080 | 0x0008];

function fakeQueue() {
  const written: { buffer: object; offset: number; values: number[] }[] = [];
  const queue: WritingQueue = {
    writeBuffer(buffer, offset, data, dataOffset = 0, size) {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data, dataOffset, size) : new Uint8Array(0);
      written.push({ buffer, offset, values: [...new Int32Array(bytes.slice().buffer)] });
    },
  };
  return { queue, written };
}

const ints = (...values: number[]) => Int32Array.from(values).buffer;

test('a uniform write of the bytes the buffer last got is left out; any other goes through', () => {
  const { queue, written } = fakeQueue();
  skipRepeatedUniformWrites(queue);
  const [a, b, storage] = [{ usage: UNIFORM }, { usage: UNIFORM }, { usage: STORAGE }];
  queue.writeBuffer(a, 0, ints(1, 2, 3, 4));
  queue.writeBuffer(a, 0, ints(1, 2, 3, 4));
  assert.equal(written.length, 1);
  queue.writeBuffer(a, 0, ints(1, 2, 3, 5));
  queue.writeBuffer(b, 0, ints(1, 2, 3, 5));
  queue.writeBuffer(storage, 0, ints(7));
  queue.writeBuffer(storage, 0, ints(7));
  assert.equal(written.length, 5);
  // The same bytes from a part of a larger buffer, as tfjs might pass them.
  queue.writeBuffer(a, 0, ints(9, 1, 2, 3, 5), 4, 16);
  assert.equal(written.length, 5);
  // A write from an offset leaves a's bytes unknown: the next whole write goes through, whatever its bytes (the same
  // as the offset write's too: they went elsewhere in the buffer).
  queue.writeBuffer(a, 8, ints(6));
  queue.writeBuffer(a, 0, ints(1, 2, 3, 5));
  assert.equal(written.length, 7);
  queue.writeBuffer(a, 8, ints(6));
  queue.writeBuffer(a, 0, ints(6));
  assert.equal(written.length, 9);
  // The bytes kept are a copy: the caller's buffer changed and written again is written.
  const reused = ints(4, 4);
  queue.writeBuffer(b, 0, reused);
  new Int32Array(reused)[1] = 8;
  queue.writeBuffer(b, 0, reused);
  assert.deepEqual(
    written.slice(-2).map((write) => write.values),
    [
      [4, 4],
      [4, 8],
    ],
  );
});

test('under MCEVAL_WEBGPU_BIND_GROUPS=new every uniform write goes through', async () => {
  const { queue, written } = fakeQueue();
  skipRepeatedUniformWrites(queue);
  const a = { usage: UNIFORM };
  try {
    await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', 'new', async () => applyBindGroupsSetting());
    queue.writeBuffer(a, 0, ints(1));
    queue.writeBuffer(a, 0, ints(1));
    assert.equal(written.length, 2);
  } finally {
    applyBindGroupsSetting();
  }
  queue.writeBuffer(a, 0, ints(1));
  assert.equal(written.length, 2);
});
