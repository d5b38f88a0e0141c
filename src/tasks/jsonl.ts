/** Reads classification examples from JSON Lines ({"text": ..., "label": ...} per line), naming file and line on error. */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { ClassificationExample } from './types.js';

export function readClassificationJsonl(path: string, numLabels: number): ClassificationExample[] {
  if (!existsSync(path)) throw new UserError(`Data file not found: ${path}. Reinstall mceval or restore the file.`);
  const examples: ClassificationExample[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.trim() === '') return;
      const where = `${path}:${index + 1}`;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new UserError(
          `Malformed row at ${where}: not valid JSON. Each line must be {"text": string, "label": integer}.`,
        );
      }
      const { text, label } = (row ?? {}) as { text?: unknown; label?: unknown };
      if (
        typeof text !== 'string' ||
        !Number.isInteger(label) ||
        (label as number) < 0 ||
        (label as number) >= numLabels
      ) {
        throw new UserError(
          `Malformed row at ${where}: expected {"text": string, "label": integer in 0..${numLabels - 1}}.`,
        );
      }
      examples.push({ text, label: label as number });
    });
  if (examples.length === 0) throw new UserError(`Data file ${path} has no examples.`);
  return examples;
}
