/**
 * A recorded training step issued again without tfjs (src/engine/replay/issue-step.ts) is the next step, bit for bit,
 * where it is given that step's writes: two runs of builtin:tiny from one seed, the first recording steps 7 and 8 as
 * usual, the second recording step 7 and then replaying it with the first run's step-8 writes (AdamW's step, the
 * dropout keys, MonteCLoRA's noise) — the same loss and the same weights as the first run's step 8, and, captured, the
 * same commands and bytes. This holds the replay the kit times to the step it stands for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, type Variable } from '../../src/engine/tf.js';
import { compareStreams, namedInStream, type StreamEvent } from '../../src/engine/replay/command-capture.js';
import { replayStep } from '../../src/engine/replay/issue-step.js';
import { inCapturedRun } from './captured-run.js';

const valuesOf = async (variables: readonly Variable[]) =>
  Promise.all(variables.map(async (variable) => Array.from((await variable.data()) as Float32Array)));

/** Each write's bytes in a captured stream. */
const writtenBytes = (events: readonly StreamEvent[]) =>
  events.flatMap((event) => (event.kind === 'write' ? [Uint8Array.from(Buffer.from(event.bytes, 'hex'))] : []));

for (const method of ['lora', 'lora-dropout', 'monteclora'] as const) {
  test(`${method}: step 7 replayed with step 8's writes is step 8`, async () => {
    // The first run: steps 7 and 8 recorded as usual; step 8's stream, loss and weights.
    const recorded = await inCapturedRun(method, async (step, capture, variables) => {
      await step();
      capture.begin();
      const loss = await step();
      return { events: capture.take(), loss, values: await valuesOf(variables()) };
    });
    const replayed = await inCapturedRun(method, async (step, capture, variables) => {
      capture.begin();
      await step();
      const { events, commands } = capture.takeWithCommands();
      const comparison = compareStreams(namedInStream(events), namedInStream(recorded.events));
      assert.equal(comparison.sameCommands, true, JSON.stringify(comparison.firstDifference));
      // Step 8's own writes differ from step 7's: AdamW's step count at least.
      assert.ok(comparison.varyingWrites.length > 0);
      const tensors = tf.memory().numTensors;
      capture.begin();
      const values = await replayStep(tf.backend(), commands, writtenBytes(recorded.events));
      const stream = capture.take();
      assert.equal(tf.memory().numTensors, tensors);
      return { stream, loss: values?.[0], values: await valuesOf(variables()) };
    });
    // The replay handed Dawn step 8's commands and bytes, and made nothing.
    const again = compareStreams(namedInStream(replayed.stream), namedInStream(recorded.events));
    assert.equal(again.sameCommands, true, JSON.stringify(again.firstDifference));
    assert.deepEqual(again.varyingWrites, []);
    assert.equal(replayed.stream.filter((event) => event.kind === 'create').length, 0);
    assert.ok(Number.isFinite(recorded.loss));
    assert.equal(replayed.loss, recorded.loss);
    assert.equal(replayed.values.length, recorded.values.length);
    replayed.values.forEach((values, i) => assert.deepEqual(values, recorded.values[i], `variable ${i}`));
  });
}

test('a replay refuses writes that do not fit the step, and a backend with commands unsubmitted', async () => {
  await inCapturedRun('lora', async (step, capture) => {
    capture.begin();
    await step();
    const { commands } = capture.takeWithCommands();
    const writes = commands.flatMap((command) => (command.kind === 'write' ? [command.bytes] : []));
    await assert.rejects(replayStep(tf.backend(), commands, writes.slice(1)), /given \d+ writes for a step that made/);
    await assert.rejects(
      replayStep(tf.backend(), commands, [new Uint8Array(writes[0]!.length + 4), ...writes.slice(1)]),
      /write 0 has \d+ bytes where the step wrote/,
    );
    // An op recorded and not yet submitted.
    const pending = tf.tidy(() => tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])));
    try {
      await assert.rejects(replayStep(tf.backend(), commands), /nothing unsubmitted/);
    } finally {
      pending.dispose();
    }
  });
});
