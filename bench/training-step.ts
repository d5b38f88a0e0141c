/** One LoRA-family training step on a builtin model, shared by the benchmarks (forward, backward, AdamW). */
import { tf } from '../src/engine/tf.js';
import { Rng } from '../src/engine/rng.js';
import { loadModel } from '../src/models/load.js';
import { padBatch } from '../src/models/tokenizers/padding.js';
import { AdamW } from '../src/train/adamw.js';
import { classificationLoss } from '../src/train/loss.js';
import type { AdapterMethod } from '../src/peft/types.js';
import type { LlamaModel } from '../src/models/llama/model.js';

export interface BenchStep {
  readonly model: LlamaModel;
  /** Tokens per row of the benchmark batch. */
  readonly length: number;
  readonly batchSize: number;
  step(): void;
  dispose(): void;
}

export function benchTrainingStep(
  modelSpec: string,
  method: AdapterMethod<unknown>,
  adapterConfig: unknown,
  batchSize = 16,
): BenchStep {
  const { model, tokenizer } = loadModel(modelSpec);
  model.addClassificationHead(2);
  const adapter = method.apply(model, adapterConfig, new Rng(1));
  const optimizer = new AdamW([
    ...adapter.groups,
    { name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 },
  ]);
  // 63 bytes + BOS: every row is 64 tokens long.
  const text = 'the plot was not very dull, but the ending felt truly wonderful and moving'.slice(0, 63);
  const batch = padBatch(
    Array.from({ length: batchSize }, () => tokenizer.encode(text)),
    tokenizer.padId,
  );
  const labels = Array.from({ length: batchSize }, (_, i) => i % 2);
  const rng = new Rng(2);
  return {
    model,
    length: batch.length,
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
