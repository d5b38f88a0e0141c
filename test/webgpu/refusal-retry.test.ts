/**
 * `--eval-batch-size auto` and `--grad-accum auto` against real refusals. A decoder whose MLP makes a [rows, 8,192]
 * tensor works on 64 sequences of about 1.3 × (the binding limit / 64 rows' MLP width) tokens each, so that 64
 * sequences at once make a tensor over the limit the adapter binds (lavapipe's: 128 MiB) and 32 do not.
 *  - Each kind of evaluation (scoring, classification, generation): auto is refused at 64 and settles on 32, with the
 *    scores of an explicit --eval-batch-size 32, no tensor left behind, and the task's next run starts at 32.
 *  - Two fine-tuning steps of batch size 64 (LoRA or MonteCLoRA, and a classification head): auto is refused in 1
 *    micro-batch and trains the run again from its start in 2, with the losses, gradient norms and trained weights of
 *    --grad-accum 2, no tensor left behind.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { tf } from '../../src/engine/tf.js';
import { Rng } from '../../src/engine/rng.js';
import { loadModel } from '../../src/models/load.js';
import { LlamaModel } from '../../src/models/llama/model.js';
import { randomWeightInit } from '../../src/models/init.js';
import { RUNNERS } from '../../src/runners/index.js';
import { evaluateAtBatchSize, forgetSettledBatchSizes } from '../../src/runners/eval-batch.js';
import { getTask } from '../../src/tasks/registry.js';
import type { GenerationTask, MultipleChoiceTask, TaskKind } from '../../src/tasks/types.js';
import type { TaskRunner } from '../../src/runners/types.js';
import { demoSentiment } from '../../src/tasks/demo/sentiment.js';
import { fineTune } from '../../src/train/fine-tune.js';
import { forgetSettledAccumulations, trainWithAccumulation } from '../../src/train/auto-accumulation.js';
import { loraMethod } from '../../src/peft/lora/index.js';
import { parseLoraConfig } from '../../src/peft/lora/config.js';
import { monteCloraMethod } from '../../src/peft/monteclora/index.js';
import { parseMonteCloraConfig } from '../../src/peft/monteclora/config.js';

const MLP_WIDTH = 8192;

/** Tokens per sequence so that 64 make an MLP tensor over `limit` bytes, and fresh models of that width. */
function wideModel(limit: number) {
  const { model: tiny, tokenizer } = loadModel('builtin:tiny');
  const tokens = Math.ceil((1.3 * limit) / (64 * MLP_WIDTH * 4));
  const config = { ...tiny.config, numHiddenLayers: 1, intermediateSize: MLP_WIDTH, maxPositionEmbeddings: 2 * tokens };
  tiny.dispose();
  return { tokens, tokenizer, build: () => new LlamaModel(config, randomWeightInit(new Rng(3), 0.05)) };
}

/** The adapter binding limit, or undefined (the test skipped) where the sequences would be thousands of tokens. */
async function smallBindingLimit(t: TestContext): Promise<number | undefined> {
  await initEngine('webgpu');
  const limit = webGpuAdapterReport()!.limits['maxStorageBufferBindingSize']!;
  if (limit <= 2 ** 29) return limit;
  t.skip(`this adapter binds ${limit} bytes at once: the test would work on sequences of thousands of tokens`);
  return undefined;
}

/** 64 sequences of about `tokens` tokens each (the byte tokenizer: a token per character) for each kind's runner. */
function cases(tokens: number) {
  const text = (i: number) => `Item ${i}: ${'x'.repeat(tokens - 24)}`;
  const arith = getTask('demo-arith') as GenerationTask;
  const sentiment = { ...demoSentiment, maxLength: 2 * tokens };
  return {
    'multiple-choice': {
      task: getTask('arc-easy-mc') as MultipleChoiceTask,
      // 32 questions of two choices: 64 sequences.
      data: {
        train: [],
        eval: Array.from({ length: 32 }, (_, i) => ({
          id: `q${i}`,
          context: `${text(i)}\nAnswer:`,
          choices: ['yes', 'no'],
          gold: i % 2,
        })),
      },
    },
    classification: {
      task: sentiment,
      data: { train: [], dev: Array.from({ length: 64 }, (_, i) => ({ text: text(i), label: i % 2 })) },
    },
    generation: {
      // Four new tokens: the prompt pass is what the device refuses.
      task: { ...arith, maxNewTokens: 4 },
      data: {
        train: [],
        eval: Array.from({ length: 64 }, (_, i) => ({ id: `g${i}`, prompt: text(i), reference: ' 4' })),
      },
    },
  } as const;
}

for (const kind of ['multiple-choice', 'classification', 'generation'] as const) {
  test(`${kind}: auto halves the batch the device refuses for its size and scores as that batch given`, async (t) => {
    const limit = await smallBindingLimit(t);
    if (limit === undefined) return;
    forgetSettledBatchSizes();
    const { tokens, tokenizer, build } = wideModel(limit);
    const model = build();
    try {
      const runner = RUNNERS[kind] as TaskRunner<TaskKind>;
      const { task, data } = cases(tokens)[kind];
      runner.prepareModel(model, task, new Rng(4));
      const tried: number[] = [];
      const evaluate = (batchSize: number) => {
        tried.push(batchSize);
        return runner.evaluate(model, tokenizer, task, data, { batchSize });
      };
      const context = { task: task.name, backend: 'webgpu', kindDefault: runner.evalBatchSize };
      const before = tf.memory().numTensors;
      const auto = await evaluateAtBatchSize('auto', context, evaluate);
      assert.deepEqual(tried, [64, 32], 'auto did not start at 64 and halve once');
      assert.equal(auto.batchSize, 32);
      assert.equal(tf.memory().numTensors, before, 'the refused batch left tensors behind');
      const given = await runner.evaluate(model, tokenizer, task, data, { batchSize: 32 });
      assert.deepEqual(auto.scores, given);
      // The task's next run starts where this one settled.
      tried.length = 0;
      await evaluateAtBatchSize('auto', context, evaluate);
      assert.deepEqual(tried, [32]);
    } finally {
      model.dispose();
      forgetSettledBatchSizes();
    }
  });
}

for (const method of ['lora', 'monteclora'] as const) {
  test(`${method}: a fine-tuning step the device refuses: auto trains the run again in twice the micro-batches, as that count given`, async (t) => {
    const limit = await smallBindingLimit(t);
    if (limit === undefined) return;
    forgetSettledAccumulations();
    const { tokens, tokenizer, build } = wideModel(limit);
    const { task, data } = cases(tokens).classification;
    const runner = RUNNERS.classification;
    const encoder = build();
    // Two steps: the second is recorded while the first, refused, is read (fine-tune.ts frees it unread).
    const examples = runner.encodeTraining(tokenizer, task, { train: [...data.dev, ...data.dev], dev: [] }, encoder);
    encoder.dispose();
    /** The run from its start, as run-sweep's trainFromStart: fresh weights, head and adapter, then one step. */
    const train = async (accumulation: number) => {
      const model = build();
      const rng = new Rng(7);
      const groups = [...runner.prepareModel(model, task, rng)];
      const settings = { r: 4, alpha: 8, dropout: 0.05, targetModules: ['gate_proj', 'up_proj'] };
      const adapter =
        method === 'lora'
          ? loraMethod.apply(model, parseLoraConfig(settings, 'test'), rng.fork('adapter'))
          : monteCloraMethod.apply(model, parseMonteCloraConfig(settings, 'test'), rng.fork('adapter'));
      try {
        const training = await fineTune({
          model,
          groups: [...adapter.groups, ...groups],
          examples,
          learningRate: 1e-3,
          batchSize: 64,
          epochs: 1,
          weightDecay: 0,
          warmupRatio: 0,
          maxGradNorm: 1,
          gradientAccumulation: accumulation,
          rng: rng.fork('train'),
          hooks: adapter,
        });
        const weights = await Promise.all(adapter.groups.flatMap((group) => group.variables).map((v) => v.data()));
        return { log: training.log, weights: weights.map((values) => Array.from(values)) };
      } finally {
        adapter.dispose();
        model.dispose();
      }
    };
    const before = tf.memory().numTensors;
    const tried: number[] = [];
    const auto = await trainWithAccumulation('auto', { task: task.name, batchSize: 64, backend: 'webgpu' }, (count) => {
      tried.push(count);
      return train(count);
    });
    assert.deepEqual(tried, [1, 2], 'auto did not start at 1 and double once');
    assert.equal(auto.accumulation, 2);
    assert.equal(tf.memory().numTensors, before, 'the refused step left tensors behind');
    const given = await train(2);
    assert.deepEqual(auto.result, given);
    forgetSettledAccumulations();
  });
}
