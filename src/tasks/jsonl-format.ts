import type { ClassificationExample } from './types.js';

/** One {"text","label"} object per line, keys in that order, trailing newline: the committed fixture format. */
export function toJsonl(examples: readonly ClassificationExample[]): string {
  return examples.map((example) => JSON.stringify({ text: example.text, label: example.label })).join('\n') + '\n';
}
