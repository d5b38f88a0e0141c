/**
 * GLUE's TSV files in the layout of its download script (glue_data/<TASK>/…): RTE, MRPC, CoLA, SST-2, QNLI, QQP,
 * MNLI. MRPC's train split is derived as GLUE's script derives it: the pairs of msr_paraphrase_train.txt whose ids
 * are not listed in dev_ids.tsv (4,076 − 408 = 3,668 pairs).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';
import type { ClassificationExample } from '../types.js';
import { column, readTsv } from './tsv.js';

function label(value: string, labels: readonly string[], where: string): number {
  const index = labels.indexOf(value);
  if (index < 0) throw new UserError(`Malformed row at ${where}: label "${value}" is not one of ${labels.join(', ')}.`);
  return index;
}

/** A headed GLUE file: text (and pair) columns by name, the label column mapped through `labels`. */
export function readGlueTsv(
  path: string,
  columns: { text: string; pair?: string; label: string },
  labels: readonly string[],
): ClassificationExample[] {
  const tsv = readTsv(path, { header: true });
  const text = column(tsv, columns.text, path);
  const pair = columns.pair === undefined ? undefined : column(tsv, columns.pair, path);
  const gold = column(tsv, columns.label, path);
  return tsv.rows.map(({ cells, line }) => ({
    text: cells[text]!,
    ...(pair === undefined ? {} : { textPair: cells[pair]! }),
    label: label(cells[gold]!, labels, `${path}:${line}`),
  }));
}

/** CoLA's files have no header: source, label, original label (or empty), sentence. */
export function readColaTsv(path: string): ClassificationExample[] {
  return readTsv(path, { header: false, columns: 4 }).rows.map(({ cells, line }) => ({
    text: cells[3]!,
    label: label(cells[1]!, ['0', '1'], `${path}:${line}`),
  }));
}

/** MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String. */
export function readMrpcTsv(path: string): (ClassificationExample & { ids: string })[] {
  const tsv = readTsv(path, { header: true });
  const [quality, id1, id2, s1, s2] = ['Quality', '#1 ID', '#2 ID', '#1 String', '#2 String'].map((name) =>
    column(tsv, name, path),
  );
  return tsv.rows.map(({ cells, line }) => ({
    text: cells[s1!]!,
    textPair: cells[s2!]!,
    label: label(cells[quality!]!, ['0', '1'], `${path}:${line}`),
    ids: `${cells[id1!]}\t${cells[id2!]}`,
  }));
}

/** MRPC's train split: msr_paraphrase_train.txt minus the pairs in dev_ids.tsv. */
export function mrpcTrain(msrTrainPath: string, devIdsPath: string): ClassificationExample[] {
  const devIds = new Set(
    readFileSync(devIdsPath, 'utf8')
      .replace(/^\uFEFF/, '')
      .split(/\r?\n/)
      .filter((line) => line.trim() !== '')
      .map((line) => line.trim().split('\t').join('\t')),
  );
  return readMrpcTsv(msrTrainPath)
    .filter((example) => !devIds.has(example.ids))
    .map(({ ids: _ids, ...example }) => example);
}
