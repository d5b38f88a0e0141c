/** QQP (GLUE): are the two questions duplicates? Files: qqp/train.tsv, qqp/dev.tsv. */
import { requireDataFile } from './data-dir.js';
import { readGlueTsv } from './loaders/glue.js';
import type { ClassificationTask } from './types.js';

const files = ['qqp/train.tsv', 'qqp/dev.tsv'];

export const qqp: ClassificationTask = {
  name: 'qqp',
  description: 'GLUE QQP: duplicate questions (363,846 train / 40,430 dev); accuracy, F1, NLL',
  kind: 'classification',
  labels: ['not_duplicate', 'duplicate'],
  maxLength: 256,
  extraMetrics: ['f1'],
  dataFiles: files,
  load(dataDir) {
    const [train, dev] = files.map((file) =>
      readGlueTsv(
        requireDataFile('qqp', dataDir, file),
        { text: 'question1', pair: 'question2', label: 'is_duplicate' },
        ['0', '1'],
      ),
    );
    return { train: train!, dev: dev! };
  },
};
