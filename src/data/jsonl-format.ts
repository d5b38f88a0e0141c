import type { ClassificationExample } from './examples.js';

/** One JSON object per line, trailing newline: the committed fixture format. */
export function jsonLines(rows: readonly object[]): string {
  return rows.map((row) => JSON.stringify(row)).join('\n') + '\n';
}

/** Classification fixtures: {"text","label"}, keys in that order. */
export function toJsonl(examples: readonly ClassificationExample[]): string {
  return jsonLines(examples.map((example) => ({ text: example.text, label: example.label })));
}
