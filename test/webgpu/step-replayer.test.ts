/**
 * StepReplayer (engine/replay/step-replayer.ts) on the benchmarks' step of builtin:tiny, which reads each step's loss
 * before the next: its captured steps' reads all take one staging buffer of tfjs's pool. Replays are read one behind
 * the other, so each turn reads into a staging buffer of its own: two replays issued before either is read both read
 * back (a buffer mapped for a read may not take the next one's copy — WebGPU refuses the submit). Once the run records
 * a step again the replays end, and a step of another shape is not replayed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf.js';
import { StepReplayer } from '../../src/engine/replay/step-replayer.js';
import { inCapturedRun } from './captured-run.js';

test('two replays in flight each read back; a recorded step ends the replays', async () => {
  await inCapturedRun('lora', async (step) => {
    const replayer = new StepReplayer(tf.backend());
    try {
      for (let i = 0; i < 6; i++) await replayer.record('2x16', [], true, () => step());
      assert.equal(replayer.replays('2x16'), true, replayer.lastRefusal);
      assert.equal(replayer.replays('2x17'), false);
      const tensors = tf.memory().numTensors;
      const replays = [replayer.replay([]), replayer.replay([])];
      const [first, second] = await Promise.all(replays.map((replay) => replay.values));
      // [loss] each: the step's read, not the template's bytes (AdamW's coefficients are not drawn again here).
      assert.equal(first!.length, 1);
      assert.ok(Number.isFinite(first![0]) && Number.isFinite(second![0]));
      assert.equal(replayer.replayed, 2);
      // The first replay's numbers as a tensor over the buffer it wrote them to: the one both wrote to here (one class
      // takes both turns: the steps hold on nothing), so the second's loss; that buffer taken once from the pool.
      assert.deepEqual(await replays[0]!.numbers?.data(), second);
      assert.equal(replays[1]!.numbers, undefined);
      replays[0]!.numbers!.dispose();
      assert.equal(tf.memory().numTensors, tensors);
      // A step recorded (its loss read as tfjs reads it) after the replays, and no replay after it.
      assert.ok(Number.isFinite(await replayer.record('2x16', [], true, () => step())));
      assert.equal(replayer.replays('2x16'), false);
    } finally {
      replayer.dispose();
    }
  });
});
