/**
 * bench/gpu/replay: what a training step would take if it were replayed rather than recorded again
 * (src/engine/replay/issue-step.ts): the floor the host's recording hides. For each target model and method (LoRA and
 * MonteCLoRA; on `--model` also LoRA with the presets' dropout, as PyTorch times it there), after `--warm` steps one
 * step is captured with Dawn's objects; then `--steps` rounds, each a step recorded by tfjs as the benchmarks time it
 * and a replay of the captured step with its own bytes — the same work (AdamW's step count, any dropout keys and
 * MonteCLoRA's noise as the captured step had them: a timing, not training; test/webgpu/step-replay.test.ts holds a
 * replay given the next step's writes to that step's numbers). Per target, middles of the rounds: milliseconds per
 * step each way (each up to its loss read), the host's time to record the step (tfjs) and to issue the replay's
 * commands; then `--steps` replays issued back to back, only the last one's loss read (`backToBackReplayedMsPerStep`:
 * the host issues a replay while the GPU runs the ones before, so a step takes the longer of the two — the floor of a
 * trainer that replayed its steps); and `sameCommands`, whether a step recorded after the replays still issues the
 * captured commands (so that the replay stood for the step). For each method, also fineTune's own steps
 * (trainer-steps.ts) with every step recorded (`trainerMsPerStep`) and with steps replayed as
 * MCEVAL_WEBGPU_REPLAY=on trains (`trainerReplayedMsPerStep`, `trainerReplayed` of them, `trainerSameLosses`), and the
 * main thread's CPU time a step each way (`trainerCpuMsPerStep`, `trainerReplayedCpuMsPerStep`). JSON; targets.ts
 * reads it (`replayed step`).
 *
 * Usage: node replay.mjs [--model builtin:medium] [--batch 8] [--length 256] [--stories DIR] [--encoder 32x128]
 *          [--encoder-layers 12] [--encoder-hidden 768] [--steps 10] [--warm 6]
 */
import { initEngine } from '../../src/engine/backends.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import type { Model } from '../../src/models/model.js';
import { argument, middleTime } from '../options.js';
import { otherTargetModels } from './target-models.js';
import { captureCommands, compareStreams, namedInStream } from '../../src/engine/replay/command-capture.js';
import { issueStep } from '../../src/engine/replay/issue-step.js';
import { stepper, type Method } from './step-methods.js';
import { sameLosses, trainerSteps, type TrainerMethod } from './trainer-steps.js';
import { holdPoolBuffers } from '../../src/engine/webgpu-pool.js';

const modelSpec = argument('model', 'builtin:medium');
const [batch, length, steps, warm] = ['batch', 'length', 'steps', 'warm'].map((name, i) =>
  Number(argument(name, ['8', '256', '10', '6'][i]!)),
);

await initEngine('webgpu');
const backend = tf.backend();

/** `method`'s step on `model` recorded and replayed in turn (an adapter of its own; the base weights untouched). */
async function replayed(name: string, model: Model, stepBatch: number, stepLength: number, method: Method) {
  const run = stepper(model, stepBatch, stepLength, 11, method);
  // The captured step's buffers kept from the pool's trimming, from its capture on, while its replays may follow (a
  // read, its own too, may otherwise give back one the replay then uses).
  let releasePool: (() => void) | undefined;
  try {
    for (let i = 0; i < warm!; i++) await run.step();
    let capture = captureCommands(backend);
    // Every buffer: the capture is not yet taken when the step's read may trim.
    releasePool = holdPoolBuffers(() => true);
    capture.begin();
    await run.step();
    const { events, commands } = capture.takeWithCommands();
    // Timed without the capture's wrappers.
    capture.stop();
    const recordedMs: number[] = [];
    const replayedMs: number[] = [];
    const issueMs: number[] = [];
    const recordingMs: number[] = [];
    let loss: number | undefined;
    for (let round = 0; round < steps!; round++) {
      const started = performance.now();
      // A step records and submits its dispatches synchronously, then awaits its loss: the first part is host time.
      const step = run.step();
      recordingMs.push(performance.now() - started);
      await step;
      const between = performance.now();
      const wait = issueStep(backend, commands);
      const issued = performance.now();
      loss = (await wait())?.[0];
      const ended = performance.now();
      recordedMs.push(between - started);
      issueMs.push(issued - between);
      replayedMs.push(ended - between);
    }
    // The replays back to back, only the last one read: the GPU runs each as the host issues the next, as a trainer
    // that replayed its steps would (the staging buffer is mapped once, after the last copy into it).
    const backToBackStarted = performance.now();
    let last: (() => Promise<Float32Array | undefined>) | undefined;
    for (let i = 0; i < steps!; i++) last = issueStep(backend, commands);
    const backToBackLoss = (await last?.())?.[0];
    const backToBackMs = (performance.now() - backToBackStarted) / steps!;
    capture = captureCommands(backend);
    capture.begin();
    await run.step();
    const after = capture.take();
    capture.stop();
    const comparison = compareStreams(namedInStream(events), namedInStream(after));
    return {
      model: name,
      method,
      batch: stepBatch,
      length: stepLength,
      steps,
      dispatches: events.filter((event) => event.kind === 'dispatch').length,
      writes: events.filter((event) => event.kind === 'write').length,
      msPerStep: middleTime(recordedMs),
      recordingMsPerStep: middleTime(recordingMs),
      replayedMsPerStep: middleTime(replayedMs),
      replayIssueMs: middleTime(issueMs),
      backToBackReplayedMsPerStep: backToBackMs,
      sameCommands: comparison.sameCommands,
      lastReplayedLoss: loss,
      backToBackLoss,
    };
  } finally {
    releasePool?.();
    run.dispose();
  }
}

/**
 * fineTune's steps of `method` on `model` with every step recorded and with steps replayed (trainer-steps.ts), and
 * whether the two runs' losses are the same.
 */
async function trainerTimes(model: Model, stepBatch: number, stepLength: number, method: TrainerMethod) {
  const recorded = await trainerSteps(model, stepBatch, stepLength, method, steps!, 'off');
  const replayedRun = await trainerSteps(model, stepBatch, stepLength, method, steps!, 'on');
  return {
    trainerMsPerStep: recorded.msPerStep,
    trainerReplayedMsPerStep: replayedRun.msPerStep,
    ...(recorded.cpuMsPerStep === undefined || replayedRun.cpuMsPerStep === undefined
      ? {}
      : { trainerCpuMsPerStep: recorded.cpuMsPerStep, trainerReplayedCpuMsPerStep: replayedRun.cpuMsPerStep }),
    trainerReplayed: replayedRun.replayed,
    trainerSameLosses: sameLosses(recorded, replayedRun),
  };
}

const results = [];
const PAIR: readonly TrainerMethod[] = ['lora', 'monteclora'];
const targets = [
  // LoRA with the presets' dropout on the model PyTorch times it on too (torch_step.py: builtin:medium's shape).
  {
    name: modelSpec,
    load: () => loadModel(modelSpec).model,
    batch: batch!,
    length: length!,
    methods: [...PAIR, 'lora-dropout' as const],
  },
  ...otherTargetModels(length!).map((spec) => ({ ...spec, methods: PAIR })),
];
for (const target of targets) {
  const model = target.load();
  try {
    for (const method of target.methods) {
      const step = await replayed(target.name, model, target.batch, target.length, method);
      const result = { ...step, ...(await trainerTimes(model, target.batch, target.length, method)) };
      // Each as it ends, as bench.ts's sections: a run cut off by its limit keeps what it finished (targets.ts).
      console.error(JSON.stringify({ finished: 'replayed step', value: result }));
      results.push(result);
    }
  } finally {
    model.dispose();
  }
}
console.log(JSON.stringify({ replayedSteps: results }, null, 2));
process.exit(0);
