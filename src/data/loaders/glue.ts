/**
 * GLUE's TSV files in the layout of its download script (glue_data/<TASK>/…): RTE, MRPC, CoLA, SST-2, QNLI, QQP,
 * MNLI. MRPC's train split is derived as GLUE's script derives it: the pairs of msr_paraphrase_train.txt whose ids
 * are not listed in dev_ids.tsv (4,076 − 408 = 3,668 pairs). The hub's nyu-mll/glue exports are read too, through
 * each config's ClassLabel names.
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';
import type { HubSource } from '../hub-export.js';
import type { JsonLine } from '../jsonl.js';
import type { ClassificationExample, ClassificationSplits } from '../examples.js';
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

/** Where a GLUE task sits in the hub's nyu-mll/glue: its config, columns and ClassLabel names (in id order). */
export interface GlueHubSpec {
  readonly config: string;
  /** The evaluation split (default "validation"; MNLI has validation_matched and validation_mismatched). */
  readonly eval?: string;
  readonly columns: { readonly text: string; readonly pair?: string };
  readonly labelNames: readonly string[];
}

export const GLUE_HUB_REPO = 'nyu-mll/glue';

/** Rows of a nyu-mll/glue export: label ids mapped through the hub's ClassLabel names onto the task's classes. */
export function glueHubExamples(
  rows: readonly JsonLine[],
  spec: GlueHubSpec,
  classes: readonly string[],
): ClassificationExample[] {
  return rows.map(({ value, where }) => {
    const text = value[spec.columns.text];
    const pair = spec.columns.pair === undefined ? undefined : value[spec.columns.pair];
    const name = spec.labelNames[value['label'] as number];
    if (typeof text !== 'string' || (spec.columns.pair !== undefined && typeof pair !== 'string')) {
      throw new UserError(
        `Malformed row at ${where}: expected string columns ${[spec.columns.text, spec.columns.pair].filter(Boolean).join(', ')}.`,
      );
    }
    if (name === undefined) {
      throw new UserError(
        `Malformed row at ${where}: label ${JSON.stringify(value['label'])} is not a class id 0..${spec.labelNames.length - 1} (a test split without labels?).`,
      );
    }
    return { text, ...(pair === undefined ? {} : { textPair: pair as string }), label: classes.indexOf(name) };
  });
}

/** The HubSource of a GLUE task: train and eval splits of its nyu-mll/glue config. */
export function glueHubSource(spec: GlueHubSpec, classes: readonly string[]): HubSource<ClassificationSplits> {
  const split = (name: string) => ({ repo: GLUE_HUB_REPO, config: spec.config, split: name });
  return {
    splits: { train: split('train'), eval: split(spec.eval ?? 'validation') },
    load: (rows) => ({
      train: glueHubExamples(rows['train']!, spec, classes),
      dev: glueHubExamples(rows['eval']!, spec, classes),
    }),
  };
}
