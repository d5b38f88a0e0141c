/**
 * A command the WebGPU device refuses (here a tensor larger than the adapter binds at once: lavapipe's limit is
 * 128 MiB) does nothing and only raises an event; reading its result must fail with one line rather than return the
 * zeros left in its place (before, the sum of a 160 MB tensor read 0). The error is reported once: the engine goes on
 * working for what fits. A lost device (destroyed here) fails the next read with one line too, where tfjs's read
 * rejected with an AbortError without a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { tf } from '../../src/engine/tf.js';

test('a tensor larger than the adapter binds fails its read with one line, and the engine goes on', async (t) => {
  await initEngine('webgpu');
  const limit = webGpuAdapterReport()!.limits['maxStorageBufferBindingSize']!;
  if (limit > 2 ** 29) {
    t.skip(`this adapter binds ${limit} bytes at once: the test would allocate more than that`);
    return;
  }
  const before = tf.memory().numTensors;
  const count = limit / 4 + 2 ** 20;
  const big = tf.fill([count], 1.5);
  const doubled = tf.mul(big, 2);
  const total = tf.sum(doubled);
  await assert.rejects(
    total.data(),
    (error: Error) =>
      error.name === 'UserError' &&
      error.message.startsWith(
        `WebGPU refused a tensor of ${Math.round((count * 4) / 2 ** 20)} MiB: this adapter binds at most ` +
          `${Math.round(limit / 2 ** 20)} MiB at once (maxStorageBufferBindingSize)`,
      ) &&
      !error.message.includes('\n'),
  );
  tf.dispose([big, doubled, total]);
  // Reported once; what fits computes as before.
  const small = tf.tidy(() => tf.sum(tf.mul(tf.fill([1000], 1.5), 2)));
  assert.equal((await small.data())[0], 3000);
  small.dispose();
  assert.equal(tf.memory().numTensors, before);
});

// Last in this file (its own process): the device cannot be used after it.
test('a lost device fails the next read with one line saying so, not an empty AbortError', async () => {
  await initEngine('webgpu');
  const kept = tf.fill([1000], 2);
  const sum = tf.sum(kept);
  assert.equal((await sum.data())[0], 2000);
  (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
  const tripled = tf.mul(kept, 3);
  await assert.rejects(
    tripled.data(),
    (error: Error) =>
      error.name === 'UserError' &&
      error.message.startsWith('The WebGPU device was lost (destroyed: device was destroyed): the GPU was reset') &&
      !error.message.includes('\n'),
  );
});
