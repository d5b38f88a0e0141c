/** One adapter training step on a classification batch (forward, backward, AdamW), shared by the benchmarks. */
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { randomWeightInit } from '../src/models/init.js';
import type { PaddedBatch } from '../src/models/tokenizers/padding.js';
import { AdamW } from '../src/train/adamw.js';
import { classificationLoss } from '../src/train/loss.js';
import { classificationHeadGroup, type AdapterMethod } from '../src/peft/types.js';
import type { LlamaModel } from '../src/models/llama/model.js';
import type { Model } from '../src/models/model.js';

export interface BenchStep<M extends Model = LlamaModel> {
  readonly model: M;
  /** Tokens per row of the benchmark batch. */
  readonly length: number;
  readonly batchSize: number;
  step(): void;
  dispose(): void;
}

export interface BenchBatch {
  readonly batchSize?: number;
  /** Tokens per row; every token is real (no padding), so the step's work is exactly batchSize × length tokens. */
  readonly length?: number;
}

/** A batch of seeded random token ids (ids 3 and up: clear of the usual pad/BOS/EOS ids). */
function randomBatch(vocabSize: number, batchSize: number, length: number): PaddedBatch {
  const rng = new Rng(3);
  const ids = new Int32Array(batchSize * length).map(() => 3 + rng.integer(vocabSize - 3));
  return { batchSize, length, ids, mask: new Int32Array(batchSize * length).fill(1) };
}

export function benchTrainingStep(
  modelSpec: string,
  method: AdapterMethod<unknown>,
  adapterConfig: unknown,
  batch: BenchBatch = {},
): BenchStep {
  const { model } = loadModel(modelSpec);
  model.addClassificationHead(2, randomWeightInit(new Rng(4), model.config.initializerRange));
  return benchClassifierStep(model, method, adapterConfig, batch);
}

/** The step on a model that already has its classification head (a decoder's, or an encoder's). */
export function benchClassifierStep<M extends Model>(
  model: M,
  method: AdapterMethod<unknown>,
  adapterConfig: unknown,
  { batchSize = 16, length = 64 }: BenchBatch = {},
): BenchStep<M> {
  const adapter = method.apply(model, adapterConfig, new Rng(1));
  const optimizer = new AdamW([...adapter.groups, classificationHeadGroup(model)]);
  const batch = randomBatch(model.config.vocabSize, batchSize, length);
  const labels = Array.from({ length: batchSize }, (_, i) => i % 2);
  const rng = new Rng(2);
  return {
    model,
    length,
    batchSize,
    step() {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const task = classificationLoss(model.classify(batch, { training: true, rng }), labels);
          const extra = adapter.regularizer?.();
          return extra === undefined ? task : (tf.add(task, extra) as tf.Scalar);
        }, optimizer.parameters);
        optimizer.apply(
          optimizer.parameters.map((p) => grads[p.name] ?? tf.zerosLike(p)),
          1e-3,
        );
        return value;
      });
      loss.dataSync();
      loss.dispose();
    },
    dispose() {
      optimizer.dispose();
      adapter.dispose();
      model.dispose();
    },
  };
}
