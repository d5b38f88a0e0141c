/**
 * Fine-tuning on webgpu records each step while the one before it is read back (train/fine-tune.ts,
 * MCEVAL_WEBGPU_OVERLAP): the device's work runs in the same order, so a LoRA and a MonteCLoRA run (two epochs, each
 * ending with its last step read) log the same numbers and train the same bits with it on as off. A run stops at the
 * same step with the same weights: one whose loss goes non-finite, where the step recorded after the diverged one is
 * held by AdamW (nothing written), and one stopped by the divergence rule, whose last steps are read before the next is
 * recorded. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { randomWeightInit } from '../../src/models/init.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';
import { classificationHeadGroup } from '../../src/peft/types.js';
import { fineTune, type TrainOptions, type TrainResult } from '../../src/train/fine-tune.js';
import { withEnv } from '../with-env.js';
import { assertSameTraining, trainedRun, type TrainedRun } from './trained-run.js';

const TEXTS = ['good film', 'bad film', 'great plot', 'awful plot', 'fine acting', 'poor acting', 'nice', 'dull'];
const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

type Options = Pick<TrainOptions, 'learningRate' | 'divergence'> & {
  /** The step whose total loss is made infinite (by a regulariser of +∞, which takes no gradient). */
  readonly infiniteAt?: number;
};

/**
 * builtin:tiny with a head and an adapter on every linear layer, trained 2 epochs of 4 steps under `setting`; with
 * `infiniteAt`, that step's loss is +∞ while its gradients and update stay finite, so the weights after it are
 * numbers, and any later update would change them.
 */
async function train(method: 'lora' | 'monteclora', setting: 'on' | 'off', options: Options): Promise<TrainedRun> {
  await initEngine('webgpu');
  const before = tf.memory().numTensors;
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2, randomWeightInit(new Rng(3), model.config.initializerRange));
  const config = { r: 4, alpha: 8, targetModules: TARGETS };
  const adapter =
    method === 'lora'
      ? loraMethod.apply(model, parseLoraConfig(config, 'overlap'), new Rng(4))
      : monteCloraMethod.apply(model, parseMonteCloraConfig(config, 'overlap'), new Rng(4));
  const groups = [...adapter.groups, classificationHeadGroup(model)];
  const { infiniteAt, ...trainOptions } = options;
  let steps = 0;
  const hooks =
    infiniteAt === undefined
      ? adapter
      : { ...adapter, regularizer: () => (++steps === infiniteAt ? tf.scalar(Infinity) : undefined) };
  return trainedRun(before, model, adapter, groups, () =>
    withEnv('MCEVAL_WEBGPU_OVERLAP', setting, () =>
      fineTune({
        model,
        groups,
        examples: TEXTS.map((text, i) => ({ ids: tokenizer.encode(text), label: i % 2 })),
        batchSize: 2,
        epochs: 2,
        weightDecay: 0.01,
        warmupRatio: 0,
        maxGradNorm: 1,
        rng: new Rng(5),
        hooks,
        ...trainOptions,
      }),
    ),
  );
}

/** The same run with the setting on and off: the same log, steps, stop and bits; how many steps overlapped. */
async function assertSameEitherWay(
  method: 'lora' | 'monteclora',
  options: Options,
): Promise<{ on: TrainResult; off: TrainResult }> {
  const on = await train(method, 'on', options);
  const off = await train(method, 'off', options);
  // Bit for bit: the device ran the same work in the same order.
  assertSameTraining(on, off);
  assert.equal(off.result.overlapped, 0);
  return { on: on.result, off: off.result };
}

test('LoRA and MonteCLoRA train the same bits with steps overlapped as without; each epoch ends read', async () => {
  for (const method of ['lora', 'monteclora'] as const) {
    const { on } = await assertSameEitherWay(method, { learningRate: 0.01 });
    assert.equal(on.steps, 8);
    assert.ok(!on.diverged);
    // Each step after an epoch's first was recorded before the one before it was read: 3 of 4, twice.
    assert.equal(on.overlapped, 6, method);
    // MonteCLoRA's diagnostics were read while the next step was recorded.
    if (method === 'monteclora') assert.ok(Object.keys(on.log[0]!).length > 4);
  }
});

test('a run whose loss goes non-finite stops at the same step, same weights: the step after it is held', async () => {
  const { on } = await assertSameEitherWay('lora', { learningRate: 0.01, infiniteAt: 2 });
  assert.equal(on.divergedAtStep, 2);
  assert.equal(on.log.at(-1)!.loss, Infinity);
  // Steps 2 and 3 were each recorded before the one before them was read; step 3 was held.
  assert.equal(on.overlapped, 2);
});

test('a run whose weights go non-finite stops as it does without overlap', async () => {
  const { on } = await assertSameEitherWay('lora', { learningRate: 1e30 });
  assert.ok(on.diverged);
  assert.ok(on.divergedAtStep! < 4, `diverged at step ${on.divergedAtStep}`);
});

test('a run stopped by the divergence rule is read before the step that could stop it is followed', async () => {
  // Every loss is above 0 × the first: the rule stops the run at its third step.
  const { on } = await assertSameEitherWay('lora', { learningRate: 0.01, divergence: { factor: 0, patience: 3 } });
  assert.equal(on.divergedAtStep, 3);
  assert.ok(on.log.every((entry) => Number.isFinite(entry.loss)));
  // Steps 2 and 3 overlapped; the third was read before a fourth was recorded.
  assert.equal(on.overlapped, 2);
});
