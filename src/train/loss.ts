import { tf, type Scalar, type Tensor2D } from '../engine/tf.js';
import { rowCrossEntropy } from '../engine/ops/cross-entropy.js';
import type { ForwardContext } from '../models/forward-context.js';
import type { LlamaModel } from '../models/llama/model.js';
import type { PaddedBatch } from '../models/tokenizers/padding.js';
import { derived } from '../engine/replay/step-values.js';

/** Mean cross-entropy of logits [rows, classes] against one integer label per row (a class, or the next token). */
export function classificationLoss(logits: Tensor2D, labels: readonly number[]): Scalar {
  return tf.mean(rowCrossEntropy(logits, labels)) as Scalar;
}

/** 1 on each row's target tokens, from its targetStart on (rows right-padded, so token t sits at position t). */
export function targetMask(
  batch: { readonly length: number; readonly ids: Int32Array },
  rows: readonly { readonly ids: readonly number[]; readonly targetStart?: number }[],
): Int32Array {
  const mask = new Int32Array(batch.ids.length);
  rows.forEach((row, b) => {
    for (let t = row.targetStart ?? 0; t < row.ids.length; t++) mask[b * batch.length + t] = 1;
  });
  return mask;
}

/**
 * The (position, next token) pairs the causal-LM loss counts in a [B, T] batch: both tokens real, and the next one a
 * target where `targetMask` is given. Its length is the number of terms the loss averages over.
 */
export function countedTargets(
  B: number,
  T: number,
  ids: Int32Array,
  mask: Int32Array,
  targetMask?: Int32Array,
): { rows: number[]; targets: number[] } {
  const rows: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      if (mask[b * T + t + 1] !== 1 || mask[b * T + t] !== 1) continue;
      if (targetMask !== undefined && targetMask[b * T + t + 1] !== 1) continue;
      rows.push(b * T + t);
      targets.push(ids[b * T + t + 1]!);
    }
  }
  return { rows, targets };
}

/**
 * How many targets `countedTargets` counts in a row of `length` real tokens whose targets begin at `targetStart`, in a
 * right-padded batch: each token from max(1, targetStart) on is predicted from the one before it.
 */
export function rowTargetCount(length: number, targetStart = 0): number {
  return Math.max(0, length - Math.max(1, targetStart));
}

/**
 * Causal-LM cross-entropy as transformers computes it with labels = input_ids: logits at position t predict token
 * t + 1; targets on padding (mask 0) are ignored; the mean is over the counted targets. `targetMask` (1 on the
 * tokens to learn) restricts the targets further, as labels of −100 on a prompt do in fine-tuning. The head runs at
 * the counted positions only, in chunks of rows when they are many (`nextTokenCrossEntropy`). Call inside tf.tidy.
 */
export function causalLmLoss(
  model: LlamaModel,
  batch: PaddedBatch,
  context: ForwardContext,
  targetMask?: Int32Array,
): Scalar {
  // Made from the batch the way a replayed step makes its own (engine/replay/step-values.ts).
  const counted = derived([batch, targetMask], (padded, mask) =>
    countedTargets(padded.batchSize, padded.length, padded.ids, padded.mask, mask),
  );
  const [rows, targets] = [derived([counted], (c) => c.rows), derived([counted], (c) => c.targets)];
  return tf.mean(model.nextTokenCrossEntropy(batch, rows, targets, context)) as Scalar;
}

/**
 * The counted targets (`countedTargets`) followed by every other position a [B, T] batch could count (each row's first
 * T − 1, in order, each predicting token 0): B × (T − 1) distinct rows, whatever the count. Each row's weight: 1 / (the
 * counted targets) on theirs, 0 on the others.
 */
export function paddedTargets(
  B: number,
  T: number,
  ids: Int32Array,
  mask: Int32Array,
  targetMask?: Int32Array,
): { rows: number[]; targets: number[]; weights: Float32Array } {
  const { rows, targets } = countedTargets(B, T, ids, mask, targetMask);
  const counted = rows.length;
  const weights = new Float32Array(B * Math.max(0, T - 1));
  weights.fill(1 / counted, 0, counted);
  const isCounted = new Uint8Array(B * T);
  rows.forEach((row) => (isCounted[row] = 1));
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      if (isCounted[b * T + t] === 1) continue;
      rows.push(b * T + t);
      targets.push(0);
    }
  }
  return { rows, targets, weights };
}

/**
 * `causalLmLoss` over rows of a shape that depends on the batch's shape only, not on how many targets it counts: the
 * head and the cross-entropy run at every position the batch could count (the others weighted 0, as transformers
 * computes logits at every position and ignores the labels of −100), and the loss is their weighted sum — the counted
 * targets' mean, up to float32 rounding (a sum of products, where `causalLmLoss` divides a sum). So a training step's
 * commands are the same for every batch of one padded shape, and a replay (engine/replay/) can stand for it where the
 * rows' targets vary; the head computes up to B × (T − 1) rows where the counted targets are fewer.
 */
export function shapeFixedCausalLmLoss(
  model: LlamaModel,
  batch: PaddedBatch,
  context: ForwardContext,
  targetMask?: Int32Array,
): Scalar {
  const padded = derived([batch, targetMask], (b, m) => paddedTargets(b.batchSize, b.length, b.ids, b.mask, m));
  const [rows, targets, weights] = [
    derived([padded], (p) => p.rows),
    derived([padded], (p) => p.targets),
    derived([padded], (p) => p.weights),
  ];
  const losses = model.nextTokenCrossEntropy(batch, rows, targets, context);
  return tf.sum(tf.mul(losses, tf.tensor1d(weights, 'float32'))) as Scalar;
}
