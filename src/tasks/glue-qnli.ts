/** QNLI (GLUE): does the sentence answer the question? Files: qnli/train.tsv, qnli/dev.tsv. */
import { requireDataFile } from './data-dir.js';
import { readGlueTsv } from './loaders/glue.js';
import type { ClassificationTask } from './types.js';

const LABELS = ['not_entailment', 'entailment'];
const files = ['qnli/train.tsv', 'qnli/dev.tsv'];

export const qnli: ClassificationTask = {
  name: 'qnli',
  description: 'GLUE QNLI: question–sentence entailment (104,743 train / 5,463 dev); accuracy, NLL',
  kind: 'classification',
  labels: LABELS,
  maxLength: 256,
  dataFiles: files,
  load(dataDir) {
    const [train, dev] = files.map((file) =>
      readGlueTsv(
        requireDataFile('qnli', dataDir, file),
        { text: 'question', pair: 'sentence', label: 'label' },
        LABELS,
      ),
    );
    return { train: train!, dev: dev! };
  },
};
