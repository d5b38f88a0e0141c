/**
 * MCEVAL_GENERATION_JOIN: when prompts waiting for a generation's batch join it (generate's `batchSize`).
 * - `under-way` (unset): once a quarter of the batch's rows have stopped, beside the rows still decoding (continuous
 *   batching): fewer steps, each of more rows, the joining rows left-padded to the rows decoding.
 * - `emptied`: once every row has stopped: batches one after another, each as many steps as its longest row (mceval's
 *   batching before continuous batching, kept to compare with it).
 * Read as the engine starts too, so that a bad value stops a run first.
 */
import { environmentChoice } from './environment-choice.js';

export type GenerationJoin = 'under-way' | 'emptied';

export function generationJoin(): GenerationJoin {
  return environmentChoice('MCEVAL_GENERATION_JOIN', ['under-way', 'emptied']);
}
