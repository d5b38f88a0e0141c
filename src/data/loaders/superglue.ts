/**
 * SuperGLUE JSONL (BoolQ: question, passage, label; WiC: word, sentence1, sentence2, label, …), with labels as
 * booleans, the strings "true"/"false" (both occur in circulating copies) or 0/1 (Hugging Face's super_glue export;
 * google/boolq's export calls the field `answer`); and the original WiC release
 * (data.txt: word, PoS, indices, sentence1, sentence2; gold.txt: T or F per line).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';
import { readJsonLines, type JsonLine } from '../jsonl.js';
import type { ClassificationExample } from '../examples.js';
import { readTsv } from './tsv.js';

export function booleanLabel(value: unknown, where: string): number {
  if (value === true || value === 'true' || value === 'True' || value === 1) return 1;
  if (value === false || value === 'false' || value === 'False' || value === 0) return 0;
  throw new UserError(`Malformed row at ${where}: label ${JSON.stringify(value)} is not a boolean or "true"/"false".`);
}

export function readSuperGlueJsonl(
  path: string,
  fields: { text: string; pair: string },
  missingHint: string,
): ClassificationExample[] {
  return superGlueExamples(readJsonLines(path, expectedRow(fields), missingHint), fields);
}

const expectedRow = (fields: { text: string; pair: string }) =>
  `{"${fields.text}": string, "${fields.pair}": string, "label": boolean}`;

/** SuperGLUE rows (a JSONL file's or a hub export's) as text pairs with a boolean label. */
export function superGlueExamples(
  rows: readonly JsonLine[],
  fields: { text: string; pair: string },
): ClassificationExample[] {
  return rows.map(({ value, where }) => {
    const text = value[fields.text];
    const pair = value[fields.pair];
    if (typeof text !== 'string' || typeof pair !== 'string') {
      throw new UserError(`Malformed row at ${where}: expected ${expectedRow(fields)}.`);
    }
    // Hugging Face exports: super_glue keeps `label` (0/1), google/boolq names it `answer` (a boolean).
    return { text, textPair: pair, label: booleanLabel(value['label'] ?? value['answer'], where) };
  });
}

/** WiC rows of the hub's super_glue export (word, sentence1, sentence2, …, label), laid out as the original reader does. */
export function wicHubExamples(rows: readonly JsonLine[]): ClassificationExample[] {
  return rows.map(({ value, where }) => {
    const { word, sentence1, sentence2 } = value;
    if (typeof word !== 'string' || typeof sentence1 !== 'string' || typeof sentence2 !== 'string') {
      throw new UserError(`Malformed row at ${where}: expected {"word", "sentence1", "sentence2", "label"}.`);
    }
    return { text: `${word}: ${sentence1}`, textPair: sentence2, label: booleanLabel(value['label'], where) };
  });
}

/** The hub's copy of SuperGLUE (load_dataset("aps/super_glue", config)). */
export const SUPERGLUE_HUB_REPO = 'aps/super_glue';

/** WiC as released: the target word is prefixed to the pair so a classifier sees which word is meant. */
export function readWicOriginal(dataPath: string, goldPath: string): ClassificationExample[] {
  const rows = readTsv(dataPath, { header: false, columns: 5 }).rows;
  const gold = readFileSync(goldPath, 'utf8')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  if (gold.length !== rows.length) {
    throw new UserError(`${goldPath} has ${gold.length} labels for the ${rows.length} rows of ${dataPath}.`);
  }
  return rows.map(({ cells, line }, i) => ({
    text: `${cells[0]}: ${cells[3]}`,
    textPair: cells[4]!,
    label: booleanLabel(gold[i] === 'T' ? true : gold[i] === 'F' ? false : gold[i], `${goldPath}:${line}`),
  }));
}
