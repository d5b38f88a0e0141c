/**
 * Dawn's polls through mceval's wait (engine/dawn-wait.ts) on the software adapter: `auto` passes them on by timer
 * (none spun), `spin` on every turn of the event loop (none by timer), and a number of milliseconds spins first; the
 * values read are the same every way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { dawnPolls } from '../../src/engine/dawn-wait.js';
import { withEnv } from '../with-env.js';

/**
 * A product of `size`³ read back under MCEVAL_WEBGPU_WAIT=`setting`: its values and the polls each way. The inputs'
 * reads run under it too: a chain of Dawn's polls they began may still be running when the product's wait joins it,
 * and a chain keeps the setting it began with.
 */
const readUnder = (setting: string | undefined, size: number) =>
  withEnv('MCEVAL_WEBGPU_WAIT', setting, async () => {
    const a = tf.randomUniform([size, size], -1, 1, 'float32', 1);
    const b = tf.randomUniform([size, size], -1, 1, 'float32', 2);
    // The inputs are on the device before the polls are counted: only the product's wait is.
    await Promise.all([a.data(), b.data()]);
    const before = dawnPolls();
    const product = tf.matMul(a, b);
    const values = await product.data();
    const after = dawnPolls();
    tf.dispose([a, b, product]);
    return { values, spun: after.spun - before.spun, slept: after.slept - before.slept };
  });

test("Dawn's polls go by timer on a software adapter, every turn with spin, spin first with milliseconds", async () => {
  await initEngine('webgpu');
  const start = tf.memory().numTensors;
  const auto = await readUnder(undefined, 512);
  assert.equal(auto.spun, 0);
  assert.ok(auto.slept > 0, `slept ${auto.slept}`);
  const spin = await readUnder('spin', 512);
  assert.equal(spin.slept, 0);
  assert.ok(spin.spun > 0, `spun ${spin.spun}`);
  assert.deepEqual(spin.values, auto.values);
  // 1 ms of spin, then timers: the wait's first poll spins. (On lavapipe a 1024³ product's wait takes many polls and
  // ends by timer; Dawn's OpenGL ES backend waits inside its first poll. The clock's part is test/dawn-wait.test.ts's.)
  const both = await readUnder('1', 1024);
  assert.ok(both.spun >= 1, `spun ${both.spun}, slept ${both.slept}`);
  assert.deepEqual(both.values, await readUnder('sleep', 1024).then(({ values }) => values));
  assert.equal(tf.memory().numTensors, start);
});
