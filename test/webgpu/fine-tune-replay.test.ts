/**
 * Fine-tuning on webgpu with MCEVAL_WEBGPU_REPLAY=on replays the steps of a shape it has recorded and checked
 * (engine/replay/step-replayer.ts) rather than recording them: each run here — builtin:tiny's presets as they ship,
 * causal-LM, micro-batches, a BERT with token types, a rule that stops the run — logs the same numbers, stops at the
 * same step and trains the same bits as with every step recorded, while most of its steps are replayed. 33 examples of
 * one length in batches of 2: each epoch ends with a batch of one (another shape), and the next begins unheld.
 * MonteCLoRA, whose regulariser draws noise on the host each step, is replayed (its draws noted); an adapter with a
 * regulariser that does not say its host values are noted is not, nor are steps that give a variable another buffer
 * (MonteCLoRA's reference preset). A replayed step whose loss goes non-finite stops the run as the recorded step does,
 * with the same weights. Batches of several padded lengths, grouped by length, replay where a shape comes back, from
 * plans learnt over its runs. No tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf } from '../../src/engine/tf.js';
import { loadModel } from '../../src/models/load.js';
import { randomWeightInit } from '../../src/models/init.js';
import type { Model } from '../../src/models/model.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { loadPreset } from '../../src/peft/preset.js';
import { classificationHeadGroup, type AppliedAdapter, type TrainingHooks } from '../../src/peft/types.js';
import { drawnValue } from '../../src/engine/replay/step-values.js';
import { fineTune, type EncodedExample, type TrainOptions, type TrainResult } from '../../src/train/fine-tune.js';
import { adapterConfigFor } from '../../src/peft/target-aliases.js';
import { tinyEncoder } from '../tiny-encoder.js';
import { withEnv } from '../with-env.js';
import { assertSameTraining, trainedRun, type TrainedRun } from './trained-run.js';

const EXAMPLES = 33;
const WORDS = ['good', 'cool', 'warm', 'cold', 'fine', 'poor', 'nice', 'dull'];

interface Case {
  /** A preset's name, or LoRA (r 4, dropout 0.1) on every linear layer. */
  readonly adapter: string;
  readonly model?: 'tiny' | 'bert';
  readonly objective?: TrainOptions['objective'];
  readonly gradientAccumulation?: number;
  readonly divergence?: TrainOptions['divergence'];
  /** A regulariser beside the adapter's hooks (one that adds nothing: only its being there counts). */
  readonly regularizer?: boolean;
  /**
   * The step whose total loss is made infinite, by a regulariser that adds a drawn value (said to be noted, so the run
   * replays): a small number each step, +∞ at this one. It takes no gradient, so the weights stay finite.
   */
  readonly infiniteAt?: number;
  /**
   * VARIED_EXAMPLES rows of 3 to this many tokens, padded to a multiple of 4 and grouped by length: batches of a shape
   * per multiple, in runs of each.
   */
  readonly varied?: number;
}

const VARIED_EXAMPLES = 160;

/** builtin:tiny's texts of one length, or a BERT's sentence pairs of one length with their token types. */
function modelAndExamples(kind: Case['model'], varied?: number): { model: Model; examples: EncodedExample[] } {
  if (kind === 'bert') {
    const model = tinyEncoder('bert', { seed: 2 });
    const rng = new Rng(8);
    // [CLS] 5 tokens [SEP] 5 tokens [SEP]: ids above the specials, types 0 then 1.
    const examples = Array.from({ length: EXAMPLES }, (_, i) => {
      const ids = Array.from({ length: 13 }, () => 5 + Math.floor(rng.uniform() * 20));
      return { ids, tokenTypeIds: ids.map((_, t) => (t < 7 ? 0 : 1)), label: i % 2 };
    });
    return { model, examples };
  }
  const { model, tokenizer } = loadModel('builtin:tiny');
  model.addClassificationHead(2, randomWeightInit(new Rng(3), model.config.initializerRange));
  if (varied !== undefined) {
    const rng = new Rng(9);
    const examples = Array.from({ length: VARIED_EXAMPLES }, (_, i) => ({
      ids: Array.from({ length: 3 + rng.integer(varied - 2) }, () => 5 + rng.integer(40)),
      label: i % 2,
    }));
    return { model, examples };
  }
  const examples = Array.from({ length: EXAMPLES }, (_, i) => ({
    ids: tokenizer.encode(`${WORDS[i % 8]} ${WORDS[(i * 3) % 8]} film`),
    label: i % 2,
    targetStart: 2,
  }));
  return { model, examples };
}

function applyAdapter(name: string, model: Model): AppliedAdapter {
  if (name !== 'lora-r4') {
    const preset = loadPreset(name);
    return preset.method.apply(model, preset.adapterConfig, new Rng(4));
  }
  const { targetModules } = adapterConfigFor(model, {
    targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  });
  return loraMethod.apply(
    model,
    parseLoraConfig({ r: 4, alpha: 8, dropout: 0.1, targetModules }, 'replay'),
    new Rng(4),
  );
}

/** The adapter's hooks, with the case's regulariser where it has one. */
function hooksOf(run: Case, adapter: AppliedAdapter): TrainingHooks {
  if (run.regularizer === true) return { ...adapter, regularizer: () => undefined };
  if (run.infiniteAt === undefined) return adapter;
  let steps = 0;
  const bytes = (value: number) => new Uint8Array(Float32Array.of(value).buffer);
  // Drawn once a step, replayed or recorded: a replay writes each step's own value where the recorded step had it.
  const added = () => drawnValue(() => (++steps === run.infiniteAt ? Infinity : steps / 1024), bytes);
  return { ...adapter, regularizer: () => tf.scalar(added()), stepValuesNoted: true };
}

/** Two epochs of `run` with MCEVAL_WEBGPU_REPLAY set to `setting`. */
async function train(run: Case, setting: 'on' | 'off', lengths: number[] = []): Promise<TrainedRun> {
  await initEngine('webgpu');
  // Each run from a pool with nothing free, as in a process of its own: its steps settle as soon.
  (tf.backend() as { releaseFreeBuffers?: () => void }).releaseFreeBuffers?.();
  const before = tf.memory().numTensors;
  const { model, examples } = modelAndExamples(run.model, run.varied);
  const adapter = applyAdapter(run.adapter, model);
  // Each step's padded length, in order.
  const spied = model as unknown as { classify: (batch: { length: number }, ...rest: unknown[]) => unknown };
  const classify = spied.classify.bind(model);
  spied.classify = (batch, ...rest) => {
    lengths.push(batch.length);
    return classify(batch, ...rest);
  };
  const groups = [...adapter.groups, ...(run.objective === 'causal-lm' ? [] : [classificationHeadGroup(model)])];
  return trainedRun(before, model, adapter, groups, () =>
    withEnv('MCEVAL_WEBGPU_REPLAY', setting, () =>
      fineTune({
        model,
        groups,
        examples,
        learningRate: 0.003,
        batchSize: 2,
        epochs: 2,
        weightDecay: 0.01,
        warmupRatio: 0.1,
        maxGradNorm: 1,
        rng: new Rng(5),
        hooks: hooksOf(run, adapter),
        ...(run.objective === undefined ? {} : { objective: run.objective }),
        ...(run.gradientAccumulation === undefined ? {} : { gradientAccumulation: run.gradientAccumulation }),
        ...(run.divergence === undefined ? {} : { divergence: run.divergence }),
        ...(run.varied !== undefined ? { padToMultipleOf: 4, groupByLength: true } : {}),
      }),
    ),
  );
}

/** The run replayed and recorded: the same log, stop and bits; the steps replayed. */
async function assertSameReplayed(run: Case, lengths: number[] = []): Promise<TrainResult> {
  const on = await train(run, 'on');
  // Every step's length, from the run that records each.
  const off = await train(run, 'off', lengths);
  assertSameTraining(on, off);
  assert.equal(off.result.replayed, undefined);
  return on.result;
}

const CASES: Record<string, Case> = {
  'the LoRA preset (dropout 0.05)': { adapter: 'lora' },
  'the DoRA preset': { adapter: 'dora' },
  'the IA3 preset': { adapter: 'ia3' },
  'the LoRA+ preset': { adapter: 'loraplus' },
  'full fine-tuning': { adapter: 'full' },
  'the prompt-tuning preset': { adapter: 'prompt-tuning' },
  'causal-LM LoRA with dropout': { adapter: 'lora-r4', objective: 'causal-lm' },
  'LoRA with dropout in two micro-batches': { adapter: 'lora-r4', gradientAccumulation: 2 },
  'a BERT with token types, LoRA with dropout': { adapter: 'lora-r4', model: 'bert' },
};

for (const [name, run] of Object.entries(CASES)) {
  test(`${name}: steps replayed train the same bits as recorded`, async () => {
    const result = await assertSameReplayed(run);
    // 17 steps an epoch: the first unheld, six captured before the first replay (more while the pool settles, the
    // longer after another run in the process), the last a batch of one — nine replayed at most.
    assert.ok((result.replayed ?? 0) >= 6, `replayed ${result.replayed} of ${result.steps}`);
  });
}

test('a run stopped by the divergence rule stops at the same step, its last steps read before the next', async () => {
  // Every loss is above 1e-6 × the first: the rule stops the run at step 28 (the second epoch's 11th), reading the
  // step before first; steps of the second epoch before it are replayed.
  const result = await assertSameReplayed({ adapter: 'lora-r4', divergence: { factor: 1e-6, patience: 28 } });
  assert.equal(result.divergedAtStep, 28);
  assert.ok((result.replayed ?? 0) > 0, `replayed ${result.replayed}`);
});

test("MonteCLoRA's steps replayed draw its noise again and log its terms as recorded", async () => {
  // Its regulariser's noise is drawn through drawnValue (group-sampler.ts), its KL terms read with the loss (stepLog).
  const result = await assertSameReplayed({ adapter: 'monteclora' });
  assert.ok((result.replayed ?? 0) >= 6, `replayed ${result.replayed} of ${result.steps}`);
  // Every step logged its terms, the replayed ones too (each differs from the step before: the noise was drawn anew).
  const terms = result.log.map((entry) => [entry['kl_wishart'], entry['noise_to_a_ratio']]);
  assert.ok(terms.flat().every((value) => Number.isFinite(value)));
  assert.ok(terms.every((pair, i) => i === 0 || pair[1] !== terms[i - 1]![1]));
});

test('a replayed step whose loss goes non-finite before a step of another shape: held on, stopped as recorded', async () => {
  // Step 16 is replayed (steps 8 to 16 are) and its total is +∞; step 17, the epoch's batch of one, is recorded,
  // holding on step 16's numbers (a tensor over the buffer the replay wrote them to): its AdamW keeps the weights, and
  // the run stops at step 16 with the weights the recorded run keeps.
  const result = await assertSameReplayed({ adapter: 'lora-r4', infiniteAt: 16 });
  assert.equal(result.divergedAtStep, 16);
  assert.equal(result.log.at(-1)!.loss, Infinity);
  assert.ok((result.replayed ?? 0) >= 6, `replayed ${result.replayed}`);
});

test("MonteCLoRA's reference preset, whose steps assign each sample as the new A, is recorded every step", async () => {
  // A variable given another buffer by each step: a replay would leave tfjs naming the buffer of the step it stands
  // for, where the latest values may be in the other turn's (engine/replay/step-replayer.ts).
  const result = await assertSameReplayed({ adapter: 'monteclora-reference' });
  assert.equal(result.replayed, 0);
});

test('an adapter with a regulariser that does not say its host values are noted is recorded every step', async () => {
  const result = await assertSameReplayed({ adapter: 'lora-r4', regularizer: true });
  assert.equal(result.replayed, undefined);
});

test("two padded lengths grouped by length: a shape's plans kept for its return, replayed after two recorded steps", async () => {
  const lengths: number[] = [];
  const result = await assertSameReplayed({ adapter: 'lora-r4', varied: 8 }, lengths);
  assert.deepEqual([...new Set(lengths)].sort(), [4, 8]);
  // Each run of one shape: its steps and, learning alone, the most it could replay (six captured first).
  const runs: number[] = [];
  lengths.forEach((length, i) => (i > 0 && length === lengths[i - 1] ? (runs[runs.length - 1]! += 1) : runs.push(1)));
  const byLearning = runs.reduce((sum, steps) => sum + Math.max(0, steps - 6), 0);
  // With the plans kept, each return to a shape records two steps (the first holds on the other shape's replayed
  // numbers, in one of the buffers its own take turns in) and replays the rest: 117 of 160 here, against 62 with the
  // plans dropped at each return.
  assert.ok(runs.length >= 8, `${runs.length} runs of one shape`);
  assert.ok(
    (result.replayed ?? 0) > byLearning + runs.length,
    `replayed ${result.replayed} of ${result.steps}; learning alone at most ${byLearning} (runs ${runs.join(' ')})`,
  );
});

test('five padded lengths in short runs: each class learnt over the runs of its shape', async () => {
  const lengths: number[] = [];
  const result = await assertSameReplayed({ adapter: 'lora-r4', varied: 20 }, lengths);
  assert.deepEqual(
    [...new Set(lengths)].sort((a, b) => a - b),
    [4, 8, 12, 16, 20],
  );
  const runs: number[] = [];
  lengths.forEach((length, i) => (i > 0 && length === lengths[i - 1] ? (runs[runs.length - 1]! += 1) : runs.push(1)));
  // Runs of 2 to 7 steps: six consecutive captures, as plans were once learnt, replayed 28 here. Once its classes are
  // learnt, each return records two steps, which arm the replays (its first holds on the replayed numbers of the shape
  // before, in one of the two buffers its own steps' numbers take turns in): 70 replayed here, where that allows 84;
  // 53 when a step after replays could not hold on them (each return then records three).
  const bound = runs.reduce((sum, steps) => sum + Math.max(0, steps - 2), 0);
  assert.ok(
    (result.replayed ?? 0) >= 0.75 * bound,
    `replayed ${result.replayed} of ${result.steps}; two recorded a return at most ${bound} (runs ${runs.join(' ')})`,
  );
});

for (const gradientAccumulation of [1, 2])
  test(`causal-LM rows of varied lengths padded to a multiple (${gradientAccumulation} micro-batches): a shape replays whatever its target count`, async () => {
    // Rows of 3 to 8 tokens, every token after the first a target (2 to 7 a row), in batches of 2. The loss runs at
    // every position of its batch (loss.ts's shapeFixedCausalLmLoss), so a step's commands depend on its padded shape
    // only: 117 and 111 of 160 replayed here. At the counted targets, each count was a shape of its own: 35 and 35
    // (batches that happened to count alike).
    const result = await assertSameReplayed({
      adapter: 'lora-r4',
      objective: 'causal-lm',
      varied: 8,
      gradientAccumulation,
    });
    assert.ok((result.replayed ?? 0) >= 90, `replayed ${result.replayed} of ${result.steps}`);
  });
