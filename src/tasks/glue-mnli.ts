/**
 * MNLI (GLUE), evaluated on both dev sets as GLUE reports it: `mnli-matched` (dev_matched.tsv) and `mnli-mismatched`
 * (dev_mismatched.tsv), both trained on mnli/train.tsv. Labels from gold_label.
 */
import { requireDataFile } from './data-dir.js';
import { readGlueTsv } from './loaders/glue.js';
import type { ClassificationTask } from './types.js';

const LABELS = ['contradiction', 'entailment', 'neutral'];

function mnliTask(name: string, devFile: string, description: string): ClassificationTask {
  const files = ['mnli/train.tsv', devFile];
  return {
    name,
    description,
    kind: 'classification',
    labels: LABELS,
    maxLength: 256,
    dataFiles: files,
    load(dataDir) {
      const [train, dev] = files.map((file) =>
        readGlueTsv(
          requireDataFile(name, dataDir, file),
          { text: 'sentence1', pair: 'sentence2', label: 'gold_label' },
          LABELS,
        ),
      );
      return { train: train!, dev: dev! };
    },
  };
}

export const mnliMatched = mnliTask(
  'mnli-matched',
  'mnli/dev_matched.tsv',
  'GLUE MNLI, matched dev (392,702 train / 9,815 dev); accuracy, NLL',
);
export const mnliMismatched = mnliTask(
  'mnli-mismatched',
  'mnli/dev_mismatched.tsv',
  'GLUE MNLI, mismatched dev (392,702 train / 9,832 dev); accuracy, NLL',
);
