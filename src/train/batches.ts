/** The order in which one epoch visits the training set: a seeded shuffle cut into batches (the last may be short). */
import type { Rng } from '../engine/rng.js';

export function epochBatches(size: number, batchSize: number, rng: Rng): number[][] {
  const order = rng.permutation(size);
  const batches: number[][] = [];
  for (let start = 0; start < size; start += batchSize) batches.push(order.slice(start, start + batchSize));
  return batches;
}

export function batchesPerEpoch(size: number, batchSize: number): number {
  return Math.ceil(size / batchSize);
}
