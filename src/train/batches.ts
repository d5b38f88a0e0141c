/**
 * The order in which one epoch visits the training set: a seeded shuffle cut into batches (the last may be short), or,
 * grouped by length, that shuffle reordered so that neighbouring batches hold rows of about one length.
 */
import type { Rng } from '../engine/rng.js';

export function epochBatches(size: number, batchSize: number, rng: Rng, lengths?: readonly number[]): number[][] {
  const shuffled = rng.permutation(size);
  const order = lengths === undefined ? shuffled : lengthGroupedOrder(shuffled, lengths, batchSize);
  const batches: number[][] = [];
  for (let start = 0; start < size; start += batchSize) batches.push(order.slice(start, start + batchSize));
  return batches;
}

/**
 * transformers' `group_by_length` order (trainer_pt_utils's `get_length_grouped_indices`): the shuffled indices cut
 * into mega-batches of `min(n / (4 × batch), 50)` batches (at least one), each sorted longest first (ties in shuffled
 * order), and the longest row's mega-batch's first row swapped with the first mega-batch's, so that the first batch
 * holds the longest row: a batch too large for memory fails at once. Each batch then pads little, and consecutive
 * batches often pad to one length (with `padToMultipleOf`, one shape).
 */
export function lengthGroupedOrder(
  shuffled: readonly number[],
  lengths: readonly number[],
  batchSize: number,
): number[] {
  const multiple = Math.max(1, Math.min(Math.floor(shuffled.length / (batchSize * 4)), 50));
  const megaSize = multiple * batchSize;
  const megas: number[][] = [];
  for (let start = 0; start < shuffled.length; start += megaSize) {
    // Array.prototype.sort is stable: ties keep their shuffled order, as Python's sorted does.
    megas.push(shuffled.slice(start, start + megaSize).sort((a, b) => lengths[b]! - lengths[a]!));
  }
  if (megas.length === 0) return [];
  // The first mega-batch whose first (longest) row is longest overall (torch.argmax takes the first maximum).
  let longest = 0;
  megas.forEach((mega, m) => {
    if (lengths[mega[0]!]! > lengths[megas[longest]![0]!]!) longest = m;
  });
  [megas[0]![0], megas[longest]![0]] = [megas[longest]![0]!, megas[0]![0]!];
  return megas.flat();
}

export function batchesPerEpoch(size: number, batchSize: number): number {
  return Math.ceil(size / batchSize);
}
