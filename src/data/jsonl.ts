/** JSON Lines files (plain or .gz), one object per line, with errors that name the file and line. */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';
import type { ClassificationExample } from './examples.js';

export interface JsonLine {
  readonly value: Record<string, unknown>;
  /** path:line, for error messages. */
  readonly where: string;
}

/**
 * Every non-empty line of a JSON Lines file as an object. `expected` describes a row, for the error message of a
 * line that is not a JSON object; `missingHint` is how to get the file when it is absent.
 */
export function readJsonLines(path: string, expected: string, missingHint: string): JsonLine[] {
  if (!existsSync(path)) throw new UserError(`Data file not found: ${path}. ${missingHint}`);
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const lines: JsonLine[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `${path}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UserError(`Malformed row at ${where}: not valid JSON. Each line must be ${expected}.`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
    }
    lines.push({ value: value as Record<string, unknown>, where });
  });
  if (lines.length === 0) throw new UserError(`${path} has no rows: expected ${expected} per line. Download it again.`);
  return lines;
}

/**
 * Records of a JSON Lines file, or — for a `.json` file — of a JSON array of objects (LLM-Adapters' and Alpaca's
 * instruction files), each with a `where` ("file:line" or "file record N") for error messages.
 */
export function readJsonRecords(path: string, expected: string, missingHint: string): JsonLine[] {
  return path.endsWith('.json')
    ? readJsonArray(path, expected, missingHint)
    : readJsonLines(path, expected, missingHint);
}

/** Every element of a file holding one JSON array of objects, with a `where` of "file record N". */
export function readJsonArray(path: string, expected: string, missingHint: string): JsonLine[] {
  if (!existsSync(path)) throw new UserError(`Data file not found: ${path}. ${missingHint}`);
  let records: unknown;
  try {
    records = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError(`${path} is not valid JSON (${(error as Error).message}): expected an array of ${expected}.`);
  }
  if (!Array.isArray(records)) throw new UserError(`${path}: expected a JSON array of ${expected}.`);
  if (records.length === 0) throw new UserError(`${path} is an empty array: expected ${expected}. Download it again.`);
  return records.map((value: unknown, index) => {
    const where = `${path} record ${index + 1}`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
    }
    return { value: value as Record<string, unknown>, where };
  });
}

export function readClassificationJsonl(path: string, numLabels: number): ClassificationExample[] {
  const expected = '{"text": string, "label": integer}';
  const examples = readJsonLines(path, expected, 'Reinstall mceval or restore the file.').map(({ value, where }) => {
    const { text, label } = value;
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
    return { text, label: label as number };
  });
  if (examples.length === 0) throw new UserError(`Data file ${path} has no examples.`);
  return examples;
}
