/** RTE (GLUE): does sentence1 entail sentence2? Files: rte/train.tsv, rte/dev.tsv (GLUE's download layout). */
import { requireDataFile } from './data-dir.js';
import { readGlueTsv } from './loaders/glue.js';
import type { ClassificationTask } from './types.js';

const LABELS = ['not_entailment', 'entailment'];
const files = ['rte/train.tsv', 'rte/dev.tsv'];

export const rte: ClassificationTask = {
  name: 'rte',
  description: 'GLUE RTE: textual entailment (2,490 train / 277 dev); accuracy, NLL',
  kind: 'classification',
  labels: LABELS,
  maxLength: 256,
  dataFiles: files,
  load(dataDir) {
    const [train, dev] = files.map((file) =>
      readGlueTsv(
        requireDataFile('rte', dataDir, file),
        { text: 'sentence1', pair: 'sentence2', label: 'label' },
        LABELS,
      ),
    );
    return { train: train!, dev: dev! };
  },
};
