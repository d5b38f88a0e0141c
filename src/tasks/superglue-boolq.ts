/** BoolQ (SuperGLUE): yes/no question over a passage. Files: boolq/superglue/train.jsonl, boolq/superglue/val.jsonl. */
import { requireDataFile } from './data-dir.js';
import { readSuperGlueJsonl } from './loaders/superglue.js';
import type { ClassificationTask } from './types.js';

const files = ['boolq/superglue/train.jsonl', 'boolq/superglue/val.jsonl'];

export const boolq: ClassificationTask = {
  name: 'boolq',
  description: 'SuperGLUE BoolQ: yes/no questions (9,427 train / 3,270 val); accuracy, NLL',
  kind: 'classification',
  labels: ['false', 'true'],
  maxLength: 256,
  dataFiles: files,
  load(dataDir) {
    const [train, dev] = files.map((file) =>
      readSuperGlueJsonl(requireDataFile('boolq', dataDir, file), { text: 'question', pair: 'passage' }, ''),
    );
    return { train: train!, dev: dev! };
  },
};
