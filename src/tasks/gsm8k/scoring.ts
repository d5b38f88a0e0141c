/**
 * GSM8K scored as lm-eval's `gsm8k` task does (lm_eval/tasks/gsm8k/gsm8k.yaml): prompts "Question: …\nAnswer:",
 * examples joined by a blank line, greedy generation stopped at "Question:", "</s>" or "<|im_end|>"; two filters —
 * `strict-match` (the number after "#### ") and `flexible-extract` (the last number-like string) — then exact match
 * against the whole reference answer, after removing commas, "$", everything up to "#### " and a final period, and
 * lower-casing.
 */
import type { PythonRandom } from './python-random.js';
import { exactMatch, type ExactMatchOptions } from '../../metrics/exact-match.js';
import { applyRegexFilter, type RegexFilterSpec } from '../../evaluation/filters/regex-filter.js';
import type { Gsm8kExample } from '../../data/loaders/gsm8k.js';

export type Gsm8kFilterName = 'strict-match' | 'flexible-extract';
export type Gsm8kFilters = Readonly<Record<Gsm8kFilterName, RegexFilterSpec>>;

export const GSM8K_FILTERS: Gsm8kFilters = {
  'strict-match': { pattern: /#### (-?[0-9.,]+)/, groupSelect: 0 },
  'flexible-extract': { pattern: /(-?[$0-9.,]{2,})|(-?[0-9]+)/, groupSelect: -1 },
};

export const GSM8K_EXACT_MATCH: ExactMatchOptions = {
  ignoreCase: true,
  ignorePunctuation: false,
  // lm-eval's regexes_to_ignore: ",", "\\$", "(?s).*#### ", "\\.$"
  regexesToIgnore: [/,/g, /\$/g, /.*#### /gs, /\.$/g],
};

export const GSM8K_STOP_SEQUENCES = ['Question:', '</s>', '<|im_end|>'];

export function gsm8kQuestion(example: Gsm8kExample): string {
  return `Question: ${example.question}\nAnswer:`;
}

/**
 * The prompt with up to `shots` train examples before the question, as lm-eval's ContextSampler builds it: `shots`
 * docs drawn by `sampler.sample(train, shots)` (one draw per question, questions in order, so `--limit` keeps the
 * prompts of a full run), any equal to the question dropped; without a sampler, the first `shots`.
 */
export function gsm8kPrompt(
  example: Gsm8kExample,
  train: readonly Gsm8kExample[],
  shots: number,
  sampler?: PythonRandom,
): string {
  const exemplars = gsm8kExemplars(example, train, shots, sampler).map(
    (shot) => `${gsm8kQuestion(shot)} ${shot.answer}`,
  );
  return [...exemplars, gsm8kQuestion(example)].join('\n\n');
}

/** The examples of `gsm8kPrompt`, for chat prompts that give each its own turns. */
export function gsm8kExemplars(
  example: Gsm8kExample,
  train: readonly Gsm8kExample[],
  shots: number,
  sampler?: PythonRandom,
): Gsm8kExample[] {
  const drawn = sampler === undefined ? train.slice(0, shots) : sampler.sample(train, shots);
  return drawn.filter((shot) => shot.question !== example.question || shot.answer !== example.answer);
}

/** lm-eval's doc_to_target of the chain-of-thought variants: the text after the last "####", stripped. */
export function gsm8kFinalAnswer(answer: string): string {
  return answer.split('####').at(-1)!.trim();
}

export interface Gsm8kScore {
  readonly filtered: Readonly<Record<Gsm8kFilterName, string>>;
  readonly exactMatch: Readonly<Record<Gsm8kFilterName, 0 | 1>>;
}

/**
 * Both filters applied to a response, each compared with `gold` by exact match; `gold` is the whole reference
 * solution (gsm8k: exact match's regexes drop everything up to "#### ") or the final number (the CoT variants).
 */
export function scoreGsm8k(response: string, gold: string, filters: Gsm8kFilters = GSM8K_FILTERS): Gsm8kScore {
  const strict = applyRegexFilter(response, filters['strict-match']);
  const flexible = applyRegexFilter(response, filters['flexible-extract']);
  return {
    filtered: { 'strict-match': strict, 'flexible-extract': flexible },
    exactMatch: {
      'strict-match': exactMatch(strict, gold, GSM8K_EXACT_MATCH),
      'flexible-extract': exactMatch(flexible, gold, GSM8K_EXACT_MATCH),
    },
  };
}
