/**
 * WiC (SuperGLUE): is the word used in the same sense in both sentences? Reads the original release
 * (wic/WiC_dataset/{train,dev}/*.data.txt + *.gold.txt).
 */
import { requireDataFile } from './data-dir.js';
import { readWicOriginal } from './loaders/superglue.js';
import type { ClassificationTask } from './types.js';

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
    const [trainData, trainGold, devData, devGold] = files.map((file) => requireDataFile('wic', dataDir, file));
    return { train: readWicOriginal(trainData!, trainGold!), dev: readWicOriginal(devData!, devGold!) };
  },
};
