/**
 * The shapes a run's steps take, known before it trains from its batches (every epoch's order is drawn up front): the
 * replayer keeps fewer shapes' captures where they are many (engine/replay/step-classes.ts).
 */
import { paddedLength, type PaddingRule } from '../models/tokenizers/padding.js';

/** A batch's micro-batches: --grad-accum's, and no more than its rows. */
export const microBatchCount = (rows: number, accumulation: number): number =>
  Math.max(1, Math.min(accumulation, rows));

/** Contiguous micro-batches of nearly equal size, in order. */
export function splitRows<T>(rows: readonly T[], parts: number): T[][] {
  const size = Math.ceil(rows.length / parts);
  const chunks: T[][] = [];
  for (let start = 0; start < rows.length; start += size) chunks.push(rows.slice(start, start + size));
  return chunks;
}

/**
 * Each batch's shape as fineTune's step key has it: its micro-batches' sizes and padded lengths, and, where `targetsOf`
 * is given (a causal-LM loss at the counted targets only), each micro-batch's count of targets, the sum of its rows'.
 * A micro-batch left without a target (its rows cut at the length limit) is dropped from the step, which this still
 * counts: rare, and only the count is off.
 */
export function batchShapes(
  lengths: readonly number[],
  batches: readonly (readonly number[])[],
  padding: PaddingRule,
  accumulation: number,
  targetsOf?: (row: number) => number,
): string[] {
  const longest = (part: readonly number[]) => Math.max(1, ...part.map((i) => lengths[i]!));
  const targets = (part: readonly number[]) =>
    targetsOf === undefined ? '' : `:${part.reduce((sum, i) => sum + targetsOf(i), 0)}`;
  return batches.map((indices) =>
    splitRows(indices, microBatchCount(indices.length, accumulation))
      .map((part) => `${part.length}x${paddedLength(longest(part), padding)}${targets(part)}`)
      .join(' '),
  );
}
