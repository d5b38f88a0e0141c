/**
 * Host values reach the GPU through the queue (engine/webgpu-upload.ts) rather than a staging buffer made for each
 * upload: the values arrive exactly (float32, int32, bool), a tensor made right after another one's buffer went back
 * to the pool, while commands that read it are still unsubmitted, does not disturb them, and a step's worth of uploads
 * creates no buffer once the pool holds buffers of their sizes (tfjs's own path created a staging buffer per upload:
 * 58 a builtin:tiny LoRA step).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor } from '../../src/engine/tf.js';

test('uploaded values arrive exactly, for every element type', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const floats = [1.5, -2, 3e-8, 1e30, -0, 0.1];
  const ints = [-5, 7, 2147483647, -2147483648, 0];
  const bools = [true, false, true, true];
  // Copies on the GPU, without arithmetic (tfjs-webgpu multiplies int32 in float32: 2³¹ − 1 would come back 2³¹).
  const copied = (t: Tensor) => tf.concat([t, t]);
  const [f, i, b] = tf.tidy(() => [
    copied(tf.tensor1d(floats)),
    copied(tf.tensor1d(ints, 'int32')),
    copied(tf.tensor1d(bools, 'bool')),
  ]);
  assert.deepEqual(Array.from(await f.data()), Array.from(Float32Array.from([...floats, ...floats])));
  assert.deepEqual(Array.from(await i.data()), [...ints, ...ints]);
  assert.deepEqual(Array.from(await b.data()), [1, 0, 1, 1, 1, 0, 1, 1]);
  tf.dispose([f, i, b]);
  assert.equal(tf.memory().numTensors, before);
});

test('a buffer back in the pool is written only after the commands that read it, in order', async () => {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const rng = new Rng(3);
  const expected: Float32Array[] = [];
  const results: Tensor[] = [];
  // Each input is disposed while the product that reads it is still recorded, unsubmitted: the next input of the same
  // size may take its buffer.
  for (let round = 0; round < 60; round++) {
    const values = rng.normalArray(1000);
    const input = tf.tensor1d(values);
    results.push(tf.mul(input, 2));
    input.dispose();
    expected.push(values.map((value) => 2 * value));
  }
  const read = await Promise.all(results.map((t) => t.data()));
  read.forEach((values, round) => assert.deepEqual(values, expected[round], `round ${round}`));
  tf.dispose(results);
  assert.equal(tf.memory().numTensors, before);
});

test('once the pool holds buffers of their sizes, uploads create none', async () => {
  await initEngine('webgpu');
  const device = (tf.backend() as unknown as { device: { createBuffer(descriptor: object): unknown } }).device;
  const create = device.createBuffer.bind(device);
  let created = 0;
  device.createBuffer = (descriptor) => {
    created += 1;
    return create(descriptor);
  };
  const round = async () => {
    const outputs = [3, 1000, 4096].map((size) =>
      tf.tidy(() => tf.mul(tf.add(tf.fill([size], 0.5), tf.ones([size])), 3)),
    );
    const scalars = [2, 3, 4].map((value) => tf.tidy(() => tf.mul(tf.scalar(value), tf.tensor1d([1, 2]))));
    await Promise.all([...outputs, ...scalars].map((t) => t.data()));
    tf.dispose([...outputs, ...scalars]);
  };
  try {
    await round();
    created = 0;
    await round();
    assert.equal(created, 0);
  } finally {
    device.createBuffer = create;
  }
});
