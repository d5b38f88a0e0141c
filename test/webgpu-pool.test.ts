/**
 * The bounded buffer pool's rules (engine/webgpu-pool.ts) on a pool of fake buffers, as tfjs-webgpu's BufferManager
 * keeps them: a loop of one shape keeps every buffer it uses, a size unused for `window` reads is given back (its free
 * buffers destroyed, the pool's counts kept true, its key left in the map), a size keeps at most as many as it had in
 * use at once less those in use now; a buffer borrowed is handed to no tensor until given back; and the setting's values
 * and its one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  borrowPoolBuffer,
  boundPool,
  describePool,
  holdPoolBuffers,
  PeakWindow,
  poolWindowSetting,
  trimPool,
} from '../src/engine/webgpu-pool.js';
import { withEnv } from './helpers.js';
import { FakePool, STAGING, STORAGE } from './fake-buffer-pool.js';

/** A step's tensors: `count` buffers of `size` in use at once, then freed. */
function step(pool: FakePool, size: number, count: number, usage = STORAGE): void {
  const buffers = Array.from({ length: count }, () => pool.acquireBuffer(size, usage));
  buffers.forEach((buffer) => pool.releaseBuffer(buffer));
}

test('a loop of one shape keeps its buffers: none is made again', () => {
  const pool = new FakePool();
  const bounded = boundPool(pool, () => 2);
  for (let i = 0; i < 20; i++) {
    step(pool, 64, 3);
    step(pool, 32, 1);
    bounded.settle();
  }
  assert.equal(pool.made, 4);
  assert.equal(pool.numBytesAllocated, 3 * 64 + 32);
});

test('a size unused for the window is given back: destroyed, counted out, its key kept', () => {
  const pool = new FakePool();
  const bounded = boundPool(pool, () => 2);
  step(pool, 100, 2);
  bounded.settle();
  const old = [...pool.freeBuffers.get(`100_${STORAGE}`)!];
  for (let length = 101; length <= 103; length++) {
    step(pool, length, 2);
    bounded.settle();
    // Size 100 was used 1, 2 and 3 reads ago: kept while within the window of 2.
    assert.equal(pool.free(100), length < 102 ? 2 : 0, `after ${length}`);
  }
  assert.ok(old.every((buffer) => buffer.destroyed));
  assert.ok(pool.freeBuffers.has(`100_${STORAGE}`), "the key stays: tfjs's release ignores an empty map");
  // Sizes 102 and 103 are kept; 100 and 101 are not.
  assert.equal(pool.numBytesAllocated, 2 * 102 + 2 * 103);
  assert.equal(pool.numFreeBuffers, 4);
});

test("reads with no work between them end one period; a read's staging buffer is not work", () => {
  const pool = new FakePool();
  const bounded = boundPool(pool, () => 1);
  step(pool, 50, 1);
  for (let read = 0; read < 5; read++) {
    step(pool, 4, 1, STAGING);
    bounded.settle();
  }
  assert.equal(pool.free(50), 1, 'one period');
  step(pool, 60, 1);
  bounded.settle();
  assert.equal(pool.free(50), 0, 'a second period, with work');
});

test('a size keeps at most as many free as it had in use at once, less those in use now', () => {
  const pool = new FakePool();
  const bounded = boundPool(pool, () => 1);
  step(pool, 8, 5);
  bounded.settle();
  assert.equal(pool.free(8), 5);
  // Two held across the read (parameters), three at once in the period after: five at most in use.
  const held = [pool.acquireBuffer(8, STORAGE), pool.acquireBuffer(8, STORAGE)];
  bounded.settle();
  step(pool, 8, 1);
  bounded.settle();
  assert.equal(pool.free(8), 1, 'the period before had 2 + 1 in use at once: 1 kept free beside the 2 held');
  // Held into the period, then freed: still the period's use (other work ends it).
  held.forEach((buffer) => pool.releaseBuffer(buffer));
  step(pool, 1000, 1);
  bounded.settle();
  assert.equal(pool.free(8), 2);
  step(pool, 1000, 1);
  bounded.settle();
  assert.equal(pool.free(8), 0, 'a period with none in use');
});

test('a window of undefined (keep) trims nothing; the window may change between reads', () => {
  const pool = new FakePool();
  let reads: number | undefined = undefined;
  const bounded = boundPool(pool, () => reads);
  for (let length = 1; length <= 6; length++) {
    step(pool, length, 1);
    bounded.settle();
  }
  assert.equal(pool.numFreeBuffers, 6);
  reads = 2;
  step(pool, 7, 1);
  bounded.settle();
  // The last two periods used sizes 6 and 7.
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((size) => pool.free(size)),
    [0, 0, 0, 0, 0, 1, 1],
  );
});

test("a watch notes the most bytes the pool held, from the watch's start", () => {
  const pool = new FakePool();
  const bounded = boundPool(pool, () => 1);
  step(pool, 100, 1);
  const watch = bounded.watch();
  assert.equal(watch.peak, 100);
  step(pool, 100, 2);
  step(pool, 30, 1);
  assert.equal(watch.peak, 230);
  step(pool, 5, 1);
  bounded.settle();
  // Trimmed to the last period's 2 × 100 + 30 + 5: the peak stays.
  assert.equal(watch.peak, 235);
  watch.stop();
  step(pool, 1000, 1);
  assert.equal(watch.peak, 235);
});

test('PeakWindow: the most in use at once over the last periods and the current one', () => {
  const peaks = new PeakWindow(2);
  peaks.note('a', 3);
  peaks.note('a', 1);
  assert.equal(peaks.most('a'), 3);
  peaks.close();
  peaks.note('a', 2);
  assert.equal(peaks.most('a'), 3);
  peaks.close();
  peaks.close();
  assert.equal(peaks.most('a'), 2);
  peaks.close();
  assert.equal(peaks.most('a'), 0);
  assert.equal(peaks.most('b'), 0);
  // A period starts with what is in use across its start.
  peaks.close([['b', 4]]);
  assert.equal(peaks.most('b'), 4);
});

test('trimPool with nothing allowed frees every free buffer and no buffer in use', () => {
  const pool = new FakePool();
  const inUse = pool.acquireBuffer(16, STORAGE);
  step(pool, 16, 3);
  trimPool(pool, () => 0);
  assert.equal(pool.free(16), 0);
  assert.equal(inUse.destroyed, false);
  assert.equal(pool.numBytesAllocated, 16);
});

test('trimPool keeps the buffers a hold holds, and trims the others from the end of their list', () => {
  const pool = new FakePool();
  step(pool, 16, 4);
  const free = [...pool.freeBuffers.get(`16_${STORAGE}`)!];
  // One buffer may stay: the held one stays beside it, the unheld go from the list's end.
  trimPool(
    pool,
    () => 1,
    (buffer) => buffer === free[2],
  );
  assert.deepEqual(pool.freeBuffers.get(`16_${STORAGE}`), [free[0], free[2]]);
  assert.deepEqual(
    free.map((buffer) => buffer.destroyed),
    [false, true, false, true],
  );
  assert.equal(pool.numFreeBuffers, 2);
  assert.equal(pool.numBytesAllocated, 32);
});

test('a pool trimmed after a read while a hold is on keeps only what it holds beyond the window', () => {
  const pool = new FakePool();
  const bounded = boundPool(pool, () => 1);
  step(pool, 16, 3);
  bounded.settle();
  const free = [...pool.freeBuffers.get(`16_${STORAGE}`)!];
  const release = holdPoolBuffers((buffer) => buffer === free[0]);
  try {
    // Two reads of work at another size: size 16 falls out of the window, but for its held buffer.
    for (let i = 0; i < 2; i++) {
      step(pool, 32, 1);
      bounded.settle();
    }
    assert.deepEqual(pool.freeBuffers.get(`16_${STORAGE}`), [free[0]]);
  } finally {
    release();
  }
  step(pool, 32, 1);
  bounded.settle();
  assert.equal(pool.free(16), 0);
  assert.equal(free[0]!.destroyed, true);
});

test('MCEVAL_WEBGPU_POOL: a number of reads, keep, or one line', async () => {
  await withEnv('MCEVAL_WEBGPU_POOL', undefined, async () => assert.equal(poolWindowSetting(), 4));
  await withEnv('MCEVAL_WEBGPU_POOL', '12', async () => assert.equal(poolWindowSetting(), 12));
  await withEnv('MCEVAL_WEBGPU_POOL', 'keep', async () => assert.equal(poolWindowSetting(), undefined));
  for (const bad of ['0', '-1', '2.5', 'trim']) {
    await withEnv('MCEVAL_WEBGPU_POOL', bad, async () =>
      assert.throws(
        () => poolWindowSetting(),
        new RegExp(`^UserError: MCEVAL_WEBGPU_POOL=${bad.replace('.', '\\.')} is not`),
      ),
    );
  }
  assert.equal(describePool(undefined), "tfjs's, kept whole");
  assert.equal(describePool(3), 'sizes unused over 3 reads given back');
});

test('release destroys every free buffer, under a window or keep, and none in use', () => {
  for (const window of [2, undefined]) {
    const pool = new FakePool();
    const bounded = boundPool(pool, () => window);
    const inUse = pool.acquireBuffer(16, STORAGE);
    step(pool, 64, 3);
    step(pool, 16, 2);
    bounded.settle();
    assert.equal(pool.free(64), 3);
    bounded.release();
    assert.equal(pool.free(64) + pool.free(16), 0);
    assert.equal(inUse.destroyed, false);
    assert.equal(pool.numFreeBuffers, 0);
    assert.equal(pool.numBytesAllocated, 16);
  }
});

test('a borrowed free buffer is handed to no tensor until given back, counted in use meanwhile', () => {
  const pool = new FakePool();
  const [a, b, c] = Array.from({ length: 3 }, () => pool.acquireBuffer(64, STORAGE));
  [a, b, c].forEach((buffer) => pool.releaseBuffer(buffer!));
  const giveBack = borrowPoolBuffer(pool, b!);
  assert.ok(giveBack !== undefined);
  assert.deepEqual([pool.numFreeBuffers, pool.numUsedBuffers, pool.numBytesUsed], [2, 1, 64]);
  // The pool hands out the others, then makes a new one; a buffer in use is not borrowed.
  const taken = Array.from({ length: 3 }, () => pool.acquireBuffer(64, STORAGE));
  assert.deepEqual(taken.slice(0, 2), [c, a]);
  assert.ok(taken[2] !== b && pool.made === 4);
  assert.equal(borrowPoolBuffer(pool, c!), undefined);
  // Trimmed meanwhile, it is not destroyed (in use); given back, it is the next handed out.
  taken.forEach((buffer) => pool.releaseBuffer(buffer));
  trimPool(pool, () => 0);
  assert.equal(b!.destroyed, false);
  giveBack!();
  assert.deepEqual([pool.numUsedBuffers, pool.numBytesUsed], [0, 0]);
  assert.equal(pool.acquireBuffer(64, STORAGE), b);
});
