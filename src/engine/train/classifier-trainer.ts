/**
 * Fine-tunes a model's classification head and adapter on labelled token sequences: AdamW, linear schedule with
 * warm-up, global-norm clipping, seeded shuffling and dropout. Stops early, and says so, when the loss diverges.
 * Every tensor a step creates is released before the next.
 */
import { tf, type Tensor, type Variable } from '../tf.js';
import type { Rng } from '../rng.js';
import type { LlamaModel } from '../../models/llama/model.js';
import type { ParameterGroup } from '../../peft/types.js';
import { padBatch } from '../../models/tokenizers/padding.js';
import { AdamW } from './adamw.js';
import { clipByGlobalNorm } from './clip.js';
import { linearScheduleMultiplier, warmupSteps } from './schedule.js';
import { batchesPerEpoch, epochBatches } from './batches.js';
import { classificationLoss } from './loss.js';

export interface EncodedExample {
  readonly ids: readonly number[];
  readonly label: number;
}

export interface TrainOptions {
  readonly model: LlamaModel;
  readonly groups: readonly ParameterGroup[];
  readonly examples: readonly EncodedExample[];
  readonly learningRate: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly weightDecay: number;
  readonly warmupRatio: number;
  readonly maxGradNorm: number;
  readonly rng: Rng;
  readonly onStep?: (progress: StepProgress) => void;
}

export interface StepProgress {
  readonly epoch: number;
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
}

export interface TrainResult {
  readonly steps: number;
  /** Mean training loss of each completed epoch. */
  readonly epochLosses: number[];
  readonly diverged: boolean;
}

export function trainClassifier(options: TrainOptions): TrainResult {
  const { model, examples, batchSize, epochs } = options;
  const optimizer = new AdamW(options.groups, { weightDecay: options.weightDecay });
  const parameters = optimizer.parameters;
  const totalSteps = batchesPerEpoch(examples.length, batchSize) * epochs;
  const warmup = warmupSteps(totalSteps, options.warmupRatio);
  const shuffleRng = options.rng.fork('shuffle');
  const dropoutRng = options.rng.fork('dropout');
  const epochLosses: number[] = [];
  let step = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      let lossSum = 0;
      let lossCount = 0;
      for (const indices of epochBatches(examples.length, batchSize, shuffleRng)) {
        const rows = indices.map((i) => examples[i]!);
        const lr = options.learningRate * linearScheduleMultiplier(step, totalSteps, warmup);
        const loss = trainStep(model, optimizer, parameters, rows, lr, options.maxGradNorm, dropoutRng);
        step += 1;
        options.onStep?.({ epoch, step, totalSteps, loss });
        if (!Number.isFinite(loss)) return { steps: step, epochLosses, diverged: true };
        lossSum += loss * rows.length;
        lossCount += rows.length;
      }
      epochLosses.push(lossSum / lossCount);
    }
  } finally {
    optimizer.dispose();
  }
  return { steps: step, epochLosses, diverged: false };
}

function trainStep(
  model: LlamaModel,
  optimizer: AdamW,
  parameters: Variable[],
  rows: readonly EncodedExample[],
  learningRate: number,
  maxGradNorm: number,
  rng: Rng,
): number {
  const batch = padBatch(
    rows.map((row) => row.ids),
    model.config.padTokenId,
  );
  const labels = rows.map((row) => row.label);
  const loss = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => classificationLoss(model.classify(batch, { training: true, rng }), labels),
      parameters,
    );
    const gradients = parameters.map((parameter) => grads[parameter.name] as Tensor);
    const { clipped } = clipByGlobalNorm(gradients, maxGradNorm);
    optimizer.apply(clipped, learningRate);
    return value;
  });
  const value = loss.dataSync()[0]!;
  loss.dispose();
  return value;
}
