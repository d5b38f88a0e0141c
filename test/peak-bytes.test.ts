/**
 * engine/peak-bytes.ts: the most bytes tfjs's tensors held at once during a watch, counted by hand from the tensors
 * made and released; and fine-tuning's peak_tensor_bytes, which must see a step's activations (a larger batch, a
 * larger peak; the same batch in micro-batches, a smaller one), not only what is held between steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { initEngine } from '../src/engine/backends.js';
import { watchPeakTensorBytes } from '../src/engine/peak-bytes.js';
import { parseLoraConfig } from '../src/peft/lora/config.js';
import { tinyClassifierRun } from './helpers.js';

const CONFIG = parseLoraConfig({ r: 4, alpha: 8, dropout: 0 }, 't');

test('a watch notes the most bytes held at once, overlapping watches each from their start', async () => {
  await initEngine('cpu');
  const base = tf.memory().numBytes;
  const outer = watchPeakTensorBytes();
  const a = tf.zeros([1000]);
  const b = tf.zeros([500]);
  const inner = watchPeakTensorBytes();
  a.dispose();
  b.dispose();
  const c = tf.zeros([100]);
  inner.stop();
  const d = tf.zeros([2000]);
  outer.stop();
  // After both stop, tfjs's count is a plain field again and still right.
  const e = tf.zeros([3000]);
  assert.equal(outer.peak, base + 4 * (100 + 2000));
  assert.equal(inner.peak, base + 4 * 1500);
  assert.equal(tf.memory().numBytes, base + 4 * (100 + 2000 + 3000));
  assert.equal(
    Object.getOwnPropertyDescriptor((tf.engine() as unknown as { state: object }).state, 'numBytes')?.get,
    undefined,
  );
  [c, d, e].forEach((t) => t.dispose());
  assert.equal(tf.memory().numBytes, base);
});

test("fine-tuning's peak tensor bytes grow with the batch and shrink with micro-batches: activations are counted", async () => {
  await initEngine('cpu');
  const peakAt = async (batchSize: number, gradientAccumulation = 1) => {
    const { result, between } = await tinyClassifierRun(CONFIG, batchSize, gradientAccumulation);
    return { peak: result.peakTensorBytes!, between };
  };
  const [two, eight] = [await peakAt(2), await peakAt(8)];
  assert.equal(two.between, eight.between);
  // The activations of 8 rows at once are more than those of 2: what a step held between steps could not show.
  assert.ok(eight.peak > two.peak, `peak ${eight.peak} at batch 8, ${two.peak} at batch 2`);
  assert.ok(two.peak > two.between, 'the peak counts more than the weights and adapter held before training');
  // Gradient accumulation's promise: the batch of 8 in 4 micro-batches, in about the memory of a batch of 2.
  const accumulated = await peakAt(8, 4);
  assert.ok(accumulated.peak < eight.peak, `accumulated ${accumulated.peak}, whole ${eight.peak}`);
});
