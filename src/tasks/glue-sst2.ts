/** SST-2 (GLUE): sentence sentiment. Files: sst2/train.tsv, sst2/dev.tsv (GLUE's SST-2 folder). */
import { requireDataFile } from './data-dir.js';
import { readGlueTsv } from './loaders/glue.js';
import type { ClassificationTask } from './types.js';

const files = ['sst2/train.tsv', 'sst2/dev.tsv'];

export const sst2: ClassificationTask = {
  name: 'sst2',
  description: 'GLUE SST-2: binary sentiment (67,349 train / 872 dev); accuracy, NLL',
  kind: 'classification',
  labels: ['negative', 'positive'],
  maxLength: 128,
  dataFiles: files,
  load(dataDir) {
    const [train, dev] = files.map((file) =>
      readGlueTsv(requireDataFile('sst2', dataDir, file), { text: 'sentence', label: 'label' }, ['0', '1']),
    );
    return { train: train!, dev: dev! };
  },
};
