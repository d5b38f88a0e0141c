/** Scores any classification task: batched eval-mode forward passes, then the metrics on float64 log-probabilities. */
import { tf } from '../engine/tf.js';
import { readAndDispose } from '../engine/host-reads.js';
import { withEvaluationContext } from '../models/forward-context.js';
import type { Model } from '../models/model.js';
import { longestFirstBatches, padInputs } from '../models/tokenizers/padding.js';
import type { EncodedExample } from '../train/fine-tune.js';
import { logSoftmax } from '../metrics/log-softmax.js';
import { accuracy } from '../metrics/accuracy.js';
import { negativeLogLikelihood } from '../metrics/nll.js';
import { binaryF1 } from '../metrics/f1.js';
import { matthewsCorrelation } from '../metrics/mcc.js';

export interface ClassificationScores {
  readonly accuracy: number;
  readonly nll: number;
  readonly f1?: number;
  readonly mcc?: number;
  /** Per example, the log-probability of each class. */
  readonly logProbabilities: readonly (readonly number[])[];
}

/** Examples classified together where the caller does not say. */
export const CLASSIFICATION_EVAL_BATCH = 32;

/** Reads the logits asynchronously, so it runs on backends without synchronous reads (WebGPU in Node) too. */
export async function classLogProbabilities(
  model: Model,
  examples: readonly EncodedExample[],
  batchSize = CLASSIFICATION_EVAL_BATCH,
): Promise<number[][]> {
  return withEvaluationContext(async (context) => {
    const rows: number[][] = [];
    // Batched longest first, so that a batch's examples are about as long as each other; rows in their order.
    for (const { indices, items } of longestFirstBatches(examples, batchSize)) {
      const batch = padInputs(items, model.config.padTokenId);
      const logits = tf.tidy(() => model.classify(batch, context));
      const numLabels = logits.shape[1];
      const values = (await readAndDispose(logits)) as Float32Array;
      indices.forEach((index, i) => (rows[index] = logSoftmax(values.subarray(i * numLabels, (i + 1) * numLabels))));
    }
    return rows;
  });
}

export async function evaluateClassification(
  model: Model,
  examples: readonly EncodedExample[],
  extraMetrics: readonly ('f1' | 'mcc')[] = [],
  batchSize?: number,
): Promise<ClassificationScores> {
  const logProbabilities = await classLogProbabilities(model, examples, batchSize);
  const labels = examples.map((example) => example.label);
  // The predicted class is the first of the most probable ones (numpy's argmax), as accuracy counts it.
  const predictions = logProbabilities.map((row) => row.indexOf(Math.max(...row)));
  return {
    accuracy: accuracy(logProbabilities, labels),
    nll: negativeLogLikelihood(logProbabilities, labels),
    logProbabilities,
    ...(extraMetrics.includes('f1') ? { f1: binaryF1(predictions, labels) } : {}),
    ...(extraMetrics.includes('mcc') ? { mcc: matthewsCorrelation(predictions, labels) } : {}),
  };
}
