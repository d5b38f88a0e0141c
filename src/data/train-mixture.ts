/**
 * --train-mixture N: one instruction mixture for every generation and multiple-choice task of a run — a seeded
 * sample of N pairs, without replacement, from the pooled training pairs of the tasks given (LLM-Adapters'
 * commonsense_15k is such a 15k sample of the eight commonsense training sets). It is written to the run's folder
 * as {prompt, completion} JSONL, which records what was trained on and is read back as --train-file would be.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import { Rng } from '../engine/rng.js';
import { UserError } from '../errors.js';
import type { PromptTarget } from './examples.js';

export function trainingMixture(
  trainingSets: readonly (readonly PromptTarget[])[],
  size: number,
  seed: number,
): PromptTarget[] {
  const pool = trainingSets.flat();
  if (size > pool.length) {
    throw new UserError(
      `--train-mixture ${size} is more than the ${pool.length} training pairs of the tasks given: pass at most ${pool.length}.`,
    );
  }
  const order = new Rng(seed).fork('train-mixture').permutation(pool.length);
  return order.slice(0, size).map((index) => pool[index]!);
}

/** Writes the mixture into the run folder; returns its path. */
export function writeTrainingMixture(outDir: string, pairs: readonly PromptTarget[]): string {
  const path = join(outDir, 'train-mixture.jsonl');
  writeFileAtomic(
    path,
    pairs.map((pair) => `${JSON.stringify({ prompt: pair.prompt, completion: pair.target })}\n`).join(''),
  );
  return path;
}
