/**
 * BoolQ (SuperGLUE): yes/no question over a passage. Files: boolq/superglue/train.jsonl, boolq/superglue/val.jsonl,
 * or the hub's aps/super_glue boolq export.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { SUPERGLUE_HUB_REPO, readSuperGlueJsonl, superGlueExamples } from '../../data/loaders/superglue.js';
import type { ClassificationTask } from '../types.js';

const files = ['boolq/superglue/train.jsonl', 'boolq/superglue/val.jsonl'];
const fields = { text: 'question', pair: 'passage' };

export const boolq: ClassificationTask = {
  name: 'boolq',
  description: 'SuperGLUE BoolQ: yes/no questions (9,427 train / 3,270 val); accuracy, NLL',
  kind: 'classification',
  labels: ['false', 'true'],
  maxLength: 256,
  dataFiles: files,
  load(dataDir) {
    const read = (file: string) => readSuperGlueJsonl(requireDataFile('boolq', dataDir, file), fields, '');
    return lazySplits({ train: () => read(files[0]!), dev: () => read(files[1]!) });
  },
  hub: {
    splits: {
      train: { repo: SUPERGLUE_HUB_REPO, config: 'boolq', split: 'train' },
      eval: { repo: SUPERGLUE_HUB_REPO, config: 'boolq', split: 'validation' },
    },
    load: (rows) => ({
      train: superGlueExamples(rows['train']!, fields),
      dev: superGlueExamples(rows['eval']!, fields),
    }),
  },
};
