/**
 * Choosing the next token from logits, in float64: greedy argmax, or sampling with temperature, top-k and top-p
 * (nucleus) filtering, applied in that order as transformers' logits warpers do. Draws come from a seeded Rng.
 */
import type { Rng } from '../engine/rng.js';

export interface SamplingOptions {
  /** 0 means greedy. */
  readonly temperature: number;
  /** Keep the k most likely tokens (0 = all). */
  readonly topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = all). */
  readonly topP: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1 };

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Token ids with their probabilities after temperature, top-k and top-p, most likely first. */
export function candidateDistribution(
  logits: ArrayLike<number>,
  options: SamplingOptions,
): { ids: number[]; probabilities: number[] } {
  const scaled = Array.from(logits, (value) => value / options.temperature);
  let order = scaled.map((_, i) => i).sort((a, b) => scaled[b]! - scaled[a]!);
  if (options.topK > 0) order = order.slice(0, options.topK);
  const max = scaled[order[0]!]!;
  const weights = order.map((i) => Math.exp(scaled[i]! - max));
  const total = weights.reduce((a, b) => a + b, 0);
  let probabilities = weights.map((w) => w / total);
  if (options.topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < probabilities.length && cumulative < options.topP) cumulative += probabilities[keep++]!;
    order = order.slice(0, Math.max(1, keep));
    const kept = probabilities.slice(0, order.length);
    const keptTotal = kept.reduce((a, b) => a + b, 0);
    probabilities = kept.map((p) => p / keptTotal);
  }
  return { ids: order, probabilities };
}

export function chooseToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Rng): number {
  if (options.temperature <= 0) return argmax(logits);
  const { ids, probabilities } = candidateDistribution(logits, options);
  let u = rng.uniform();
  for (let i = 0; i < ids.length; i++) {
    u -= probabilities[i]!;
    if (u < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}
