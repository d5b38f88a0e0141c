import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/engine/tf.js';
import { runSweep, type SweepOptions } from '../src/sweep/run-sweep.js';
import { loadPreset } from '../src/peft/preset.js';
import { demoSentiment } from '../src/tasks/demo/sentiment.js';
import type { ClassificationTask } from '../src/tasks/types.js';
import { useTestBackend } from './helpers.js';

before(useTestBackend);

/** demo-sentiment cut down so that a sweep takes seconds. */
const smallTask: ClassificationTask = {
  ...demoSentiment,
  name: 'demo-sentiment-small',
  load: () => {
    const { train, dev } = demoSentiment.load(undefined);
    return { train: train.slice(0, 64), dev: dev.slice(0, 32) };
  },
};

function options(seed: number): SweepOptions {
  return {
    tasks: [{ kind: 'classification', task: smallTask, data: smallTask.load(undefined) }],
    presets: [loadPreset('lora')],
    modelSpec: 'builtin:tiny',
    grid: () => ({ lr: [0.003, 0.01], bs: [32] }),
    epochs: 1,
    seed,
    backend: 'test',
  };
}

const metrics = (runs: Awaited<ReturnType<typeof runSweep>>) =>
  runs.map((r) => [r.accuracy, r.nll, r.final_train_loss, r.steps]);

test('the same seed gives identical metrics, another seed different ones, and no tensor leaks', async () => {
  const before = tf.memory().numTensors;
  const first = await runSweep(options(42));
  assert.equal(tf.memory().numTensors, before);
  const again = await runSweep(options(42));
  assert.deepEqual(metrics(again), metrics(first));
  const other = await runSweep(options(43));
  assert.notDeepEqual(metrics(other), metrics(first));
  assert.equal(first.length, 2);
  assert.deepEqual(
    first.map((r) => r.lr),
    [0.003, 0.01],
  );
  assert.equal(first[0]!.hyperparameters['lora_r'], 8);
});

test('MonteCLoRA and its reference variant train through the sweep without leaking tensors', async () => {
  const before = tf.memory().numTensors;
  const runs = await runSweep({
    ...options(7),
    presets: [loadPreset('monteclora'), loadPreset('monteclora-reference')],
    grid: () => ({ lr: [0.003], bs: [32] }),
  });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(
    runs.map((r) => [r.adapter, r.method, r.diverged]),
    [
      ['monteclora', 'monteclora', false],
      ['monteclora-reference', 'monteclora', false],
    ],
  );
  assert.ok(runs.every((r) => Number.isFinite(r.nll) && r.steps === 2));
  // Frozen priors train fewer parameters: s and p are left out.
  assert.ok(runs[1]!.trainable_params < runs[0]!.trainable_params);
  assert.equal(runs[0]!.hyperparameters['monteclora_n'], 4);
  // Every step is logged with the KL terms, the cooperative loss and the noise-to-A ratio.
  const entry = runs[0]!.log[0]!;
  for (const key of [
    'epoch',
    'step',
    'lr',
    'loss',
    'grad_norm',
    'kl_gaussian',
    'kl_wishart',
    'kl_dirichlet',
    'cooperative_loss',
    'noise_to_a_ratio',
  ]) {
    assert.ok(Number.isFinite(entry[key]), `${key} missing from the log`);
  }
  assert.equal(runs[0]!.log.length, runs[0]!.steps);
  assert.ok(entry['noise_to_a_ratio']! > 0);
});
