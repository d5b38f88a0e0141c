/**
 * models/forward-constants.ts: a tensor made at its owner's first use is the one later uses get, it outlives the tidy
 * scope it was made in, each owner has its own, and dispose frees them all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { ForwardConstants } from '../src/models/forward-constants.js';
import { useTestBackend } from './helpers.js';

test('a forward constant is made once per owner, survives tidy scopes, and is freed with the cache', async () => {
  await useTestBackend();
  const before = tf.memory().numTensors;
  const constants = new ForwardConstants();
  const [first, second] = [{}, {}];
  let made = 0;
  const make = (value: number) => () => {
    made++;
    return tf.scalar(value);
  };
  const a = tf.tidy(() => constants.get(first, make(1)));
  const again = tf.tidy(() => constants.get(first, make(9)));
  const b = tf.tidy(() => constants.get(second, make(2)));
  assert.equal(again, a);
  assert.equal(made, 2);
  assert.deepEqual([a.dataSync()[0], b.dataSync()[0]], [1, 2]);
  constants.dispose();
  assert.ok(a.isDisposed && b.isDisposed);
  assert.equal(tf.memory().numTensors, before);
});
