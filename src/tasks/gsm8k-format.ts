/**
 * What GSM8K and the GSM8K-format demo task share: fine-tuning pairs (the train split as question → answer, in the
 * zero-shot prompt layout) and scoring of responses with both lm-eval filters.
 */
import type { Gsm8kExample } from './loaders/gsm8k.js';
import type { GenerationDoc, GenerationScores, PromptTarget } from './types.js';
import { GSM8K_FILTERS, gsm8kQuestion, scoreGsm8k, type Gsm8kFilters } from './gsm8k.js';

export function gsm8kTrainingPairs(train: readonly Gsm8kExample[]): PromptTarget[] {
  return train.map((example) => ({ prompt: gsm8kQuestion(example), target: ` ${example.answer}` }));
}

export function gsm8kDocs(examples: readonly Gsm8kExample[]): GenerationDoc[] {
  return examples.map((example, index) => ({
    id: String(index),
    prompt: gsm8kQuestion(example),
    reference: ` ${example.answer}`,
  }));
}

/**
 * Mean exact match under each filter; strict-match is the primary metric (lm-eval lists it first). Each response is
 * compared with its doc's `answer` where the task sets one (the CoT variants' final number), else the reference.
 */
export function scoreGsm8kResponses(
  docs: readonly GenerationDoc[],
  responses: readonly string[],
  filters: Gsm8kFilters = GSM8K_FILTERS,
): GenerationScores {
  let strict = 0;
  let flexible = 0;
  const samples = docs.map((doc, i) => {
    const score = scoreGsm8k(responses[i]!, doc.answer ?? doc.reference, filters);
    strict += score.exactMatch['strict-match'];
    flexible += score.exactMatch['flexible-extract'];
    return { filtered: score.filtered, exact_match: score.exactMatch };
  });
  const n = Math.max(1, docs.length);
  return {
    primary: strict / n,
    metrics: { 'exact_match,strict-match': strict / n, 'exact_match,flexible-extract': flexible / n },
    samples,
  };
}
