/**
 * Two training steps of one shape, captured as the commands the webgpu backend hands Dawn
 * (src/engine/replay/command-capture.ts): once the pool has settled, a step issues the same dispatches (pipelines,
 * bind groups, workgroup counts), copies and queue writes into the same buffers as the step before, makes no buffer or
 * bind group, and writes new bytes only for the values a step changes — AdamW's step count (its uniforms) for LoRA
 * without dropout and full fine-tuning, the dropout keys (uniforms of the kernels that mask) with dropout,
 * MonteCLoRA's noise drawn on the host (storage buffers). What a replay of a recorded step would have to write anew
 * (docs/gpu.md). The capture can tell steps apart: under MCEVAL_WEBGPU_BIND_GROUPS=new (tfjs's pool order, a bind
 * group made per dispatch) they differ. fineTune's own steps (each recorded while the one before is read, and held on
 * its numbers) repeat too on a data set of one length, each the step two before it (the held numbers take turns in two
 * buffers), writing anew the batch's token ids and labels and AdamW's step, whichever staging buffer a step's read
 * takes (the one the pool has free first, which depends on whether the read before has ended).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { captureCommands, compareStreams, type StreamEvent } from '../../src/engine/replay/command-capture.js';
import type { Method } from '../../bench/gpu/step-methods.js';
import { Rng } from '../../src/engine/rng.js';
import { randomWeightInit } from '../../src/models/init.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { fineTuneAdapterAndHead, withEnv } from '../helpers.js';
import { inCapturedRun } from './captured-run.js';

/** The two captured steps of `method` on a builtin:tiny of its own, and the capture (stopped; its keys still read). */
async function twoSteps(method: Method) {
  return inCapturedRun(method, async (step, capture) => {
    const streams: StreamEvent[][] = [];
    for (let taken = 0; taken < 2; taken++) {
      capture.begin();
      await step();
      streams.push(capture.take());
    }
    return { capture, first: streams[0]!, second: streams[1]! };
  });
}

const kernel = (key: string | undefined) => key?.split('_')[0];

/** Which kernels read the writes whose bytes changed, and whether each was a uniform write. */
async function varying(method: Method) {
  const { capture, first, second } = await twoSteps(method);
  const comparison = compareStreams(first, second);
  assert.equal(comparison.sameCommands, true, JSON.stringify(comparison.firstDifference));
  assert.equal(second.filter((event) => event.kind === 'create').length, 0, 'buffers or bind groups made anew');
  assert.ok(second.filter((event) => event.kind === 'dispatch').length > 30);
  return comparison.varyingWrites.map((write) => ({
    kernel: kernel(write.before === undefined ? undefined : capture.shaderKey(write.before)),
    uniform: write.uniform,
  }));
}

for (const method of ['lora', 'full'] as const) {
  test(`${method}: a step repeats the one before but for AdamW's step count`, async () => {
    const writes = await varying(method);
    assert.ok(writes.length > 0);
    assert.deepEqual(new Set(writes.map((write) => `${write.kernel} ${write.uniform}`)), new Set(['McevalAdamW true']));
  });
}

test("lora with dropout: a step repeats the one before but for AdamW's step count and the dropout keys", async () => {
  const writes = await varying('lora-dropout');
  const kernels = new Set(writes.map((write) => write.kernel));
  assert.ok(writes.every((write) => write.uniform));
  assert.ok(kernels.has('McevalAdamW'));
  // The keys go to the products that mask x as they read it and to the weight gradients that mask it again.
  assert.ok(writes.filter((write) => write.kernel !== 'McevalAdamW').length >= 8, JSON.stringify(writes));
  assert.ok(kernels.has('McevalWeightGradientPartials'), [...kernels].join());
});

test("monteclora: a step repeats the one before but for AdamW's step count and the host-drawn noise", async () => {
  const writes = await varying('monteclora');
  const noise = writes.filter((write) => !write.uniform).map((write) => write.kernel);
  assert.deepEqual(
    writes.filter((write) => write.uniform).map((write) => write.kernel),
    writes.filter((write) => write.kernel === 'McevalAdamW').map((write) => write.kernel),
  );
  assert.ok(noise.length >= 2 && noise.includes('McevalPerturbedFactors'), noise.join());
});

test('with bind groups made at every dispatch (tfjs’s way), two steps are told apart', async () => {
  const { first, second } = await withEnv('MCEVAL_WEBGPU_BIND_GROUPS', 'new', () => twoSteps('lora'));
  const comparison = compareStreams(first, second);
  assert.equal(comparison.sameCommands, false);
  const made = second.filter((event) => event.kind === 'create' && event.object === 'bind group').length;
  assert.equal(made, second.filter((event) => event.kind === 'dispatch').length);
});

test("fineTune's overlapped steps repeat the step two before, whichever staging buffer each read takes", async () => {
  await initEngine('webgpu');
  const { model } = loadModel('builtin:tiny');
  model.addClassificationHead(2, randomWeightInit(new Rng(3), model.config.initializerRange));
  const config = parseLoraConfig({ r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 'stream');
  const adapter = loraMethod.apply(model, config, new Rng(4));
  const rng = new Rng(9);
  // Every example 8 tokens long: each batch pads to the same shape.
  const examples = Array.from({ length: 96 }, (_, i) => ({
    ids: Array.from({ length: 8 }, () => 1 + rng.integer(200)),
    label: i % 2,
  }));
  const backend = tf.backend();
  const capture = captureCommands(backend);
  const streams: StreamEvent[][] = [];
  // Steps 21 and 22 are read late: each once the GPU has done the step after it, read included.
  const late = new Map<number, () => void>();
  let overlapped: number | undefined;
  try {
    capture.begin();
    // Diagnostics are asked for as each step has been recorded, and, unlike a hook before or after a step, leave the
    // steps overlapped: a stream from one step's to the next's is that step's read begun and the next step recorded.
    // A step's read awaits its diagnostics, so that those of steps 21 and 22 hold the step after each (recorded, its
    // read begun) until that read has ended: steps 23 and 24 are recorded with both reads' staging buffers free.
    const hooks = {
      ...adapter,
      diagnostics: () => {
        streams.push(capture.take());
        capture.begin();
        const recorded = streams.length;
        const readLate = late.get(recorded - 1);
        if (readLate !== undefined)
          void (backend as unknown as { queue: { onSubmittedWorkDone(): Promise<void> } }).queue
            .onSubmittedWorkDone()
            .then(() => new Promise((ended) => setTimeout(ended, 20)))
            .then(readLate);
        return recorded === 21 || recorded === 22
          ? new Promise<Record<string, number>>((resolve) => late.set(recorded, () => resolve({})))
          : {};
      },
    };
    // One epoch of 24 steps: each but the first recorded while the one before is read.
    const result = await fineTuneAdapterAndHead(model, adapter, examples, 1, hooks, 1);
    overlapped = result.overlapped;
  } finally {
    capture.stop();
    adapter.dispose();
    model.dispose();
  }
  assert.equal(overlapped, 23);
  // Each step reads the step before's numbers (AdamW's hold) while its own are written to another buffer, so that the
  // two take turns: a step issues the commands of the step two before it, not those of the step before. The last four
  // of 24: the pool has settled (after this file's other runs, within its four-read window). A step's read takes the
  // staging buffer that tfjs's pool has free first: the other of the step before's while that read is running, the
  // same where it has ended — as for steps 23 and 24, so that their reads do not take turns as their numbers do.
  assert.equal(streams.length, 24);
  const staging = streams.map((events) => {
    const read = events.findLast((event) => event.kind === 'copy' && event.read);
    return read?.kind === 'copy' ? read.to : undefined;
  });
  assert.ok(staging[22] !== undefined && staging[22] === staging[23], JSON.stringify(staging.slice(18)));
  for (let step = 20; step < streams.length; step++) {
    assert.equal(compareStreams(streams[step - 1]!, streams[step]!).sameCommands, false, `step ${step + 1}`);
    const comparison = compareStreams(streams[step - 2]!, streams[step]!);
    assert.equal(comparison.sameCommands, true, `step ${step + 1}: ${JSON.stringify(comparison.firstDifference)}`);
    // The batch's token ids (the embedding's gather) and, where they change, its labels (the loss and its gradient)
    // are written to storage buffers; AdamW's step to its uniforms.
    const kernels = new Set(
      comparison.varyingWrites.map((write) => `${kernel(capture.shaderKey(write.before ?? -1))} ${write.uniform}`),
    );
    assert.ok(kernels.has('gather false') && kernels.has('McevalAdamW true'), [...kernels].join());
    for (const name of kernels)
      assert.ok(
        /^(gather|McevalCrossEntropy|McevalCrossEntropyGradUpstream) false$|^McevalAdamW true$/.test(name),
        name,
      );
  }
});
