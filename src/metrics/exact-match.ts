/**
 * lm-eval's exact_match (the HF `evaluate` metric it wraps): both strings first lose every match of each of
 * `regexesToIgnore` (Python re.sub semantics: all occurrences), then are lower-cased (ignoreCase) and stripped of
 * punctuation (ignorePunctuation), and compared for equality.
 */
export interface ExactMatchOptions {
  readonly regexesToIgnore?: readonly RegExp[];
  readonly ignoreCase?: boolean;
  readonly ignorePunctuation?: boolean;
}

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

export function normalizeForExactMatch(text: string, options: ExactMatchOptions): string {
  let result = text;
  for (const pattern of options.regexesToIgnore ?? []) {
    result = result.replace(
      new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`),
      '',
    );
  }
  if (options.ignoreCase === true) result = result.toLowerCase();
  if (options.ignorePunctuation === true) result = result.replace(PUNCTUATION, '');
  return result;
}

export function exactMatch(prediction: string, reference: string, options: ExactMatchOptions = {}): 0 | 1 {
  return normalizeForExactMatch(prediction, options) === normalizeForExactMatch(reference, options) ? 1 : 0;
}
