/**
 * WiC (SuperGLUE): is the word used in the same sense in both sentences? Reads the original release
 * (wic/WiC_dataset/{train,dev}/*.data.txt + *.gold.txt), or the hub's aps/super_glue wic export.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { SUPERGLUE_HUB_REPO, readWicOriginal, wicHubExamples } from '../../data/loaders/superglue.js';
import type { ClassificationTask } from '../types.js';

const files = [
  'wic/WiC_dataset/train/train.data.txt',
  'wic/WiC_dataset/train/train.gold.txt',
  'wic/WiC_dataset/dev/dev.data.txt',
  'wic/WiC_dataset/dev/dev.gold.txt',
];

export const wic: ClassificationTask = {
  name: 'wic',
  description: 'SuperGLUE WiC: word sense in context (5,428 train / 638 dev); accuracy, NLL',
  kind: 'classification',
  labels: ['false', 'true'],
  maxLength: 128,
  dataFiles: files,
  load(dataDir) {
    const path = (file: string) => requireDataFile('wic', dataDir, file);
    return lazySplits({
      train: () => readWicOriginal(path(files[0]!), path(files[1]!)),
      dev: () => readWicOriginal(path(files[2]!), path(files[3]!)),
    });
  },
  hub: {
    splits: {
      train: { repo: SUPERGLUE_HUB_REPO, config: 'wic', split: 'train' },
      eval: { repo: SUPERGLUE_HUB_REPO, config: 'wic', split: 'validation' },
    },
    load: (rows) => ({ train: wicHubExamples(rows['train']!), dev: wicHubExamples(rows['eval']!) }),
  },
};
