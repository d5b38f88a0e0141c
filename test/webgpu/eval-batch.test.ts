/**
 * `--eval-batch-size auto` against a real refusal, for each kind of evaluation: a decoder whose MLP makes a [rows,
 * 8,192] tensor scores, classifies or generates from 64 sequences of about 1.3 × (the binding limit / 64 rows' MLP
 * width) tokens each, so that 64 sequences at once make a tensor over the limit the adapter binds (lavapipe's: 128 MiB)
 * and 32 do not. Auto is refused at 64 and settles on 32, with the scores of an explicit --eval-batch-size 32, no
 * tensor left behind, and the next run of the task starts at 32.
 */
import { test } from 'node:test';
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

const MLP_WIDTH = 8192;

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
    await initEngine('webgpu');
    const limit = webGpuAdapterReport()!.limits['maxStorageBufferBindingSize']!;
    if (limit > 2 ** 29) {
      t.skip(`this adapter binds ${limit} bytes at once: the test would score sequences of thousands of tokens`);
      return;
    }
    forgetSettledBatchSizes();
    const { model: tiny, tokenizer } = loadModel('builtin:tiny');
    const tokens = Math.ceil((1.3 * limit) / (64 * MLP_WIDTH * 4));
    const config = {
      ...tiny.config,
      numHiddenLayers: 1,
      intermediateSize: MLP_WIDTH,
      maxPositionEmbeddings: 2 * tokens,
    };
    tiny.dispose();
    const model = new LlamaModel(config, randomWeightInit(new Rng(3), 0.05));
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
