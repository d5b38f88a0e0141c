/**
 * MRPC (GLUE): are the two sentences paraphrases? Files: mrpc/msr_paraphrase_train.txt and mrpc/dev_ids.tsv (train
 * is derived from them as GLUE's script does), mrpc/dev.tsv.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { glueHubSource, mrpcTrain, readMrpcTsv } from '../../data/loaders/glue.js';
import type { ClassificationTask } from '../types.js';

const labels = ['not_equivalent', 'equivalent'];

const files = ['mrpc/msr_paraphrase_train.txt', 'mrpc/dev_ids.tsv', 'mrpc/dev.tsv'];

export const mrpc: ClassificationTask = {
  name: 'mrpc',
  description: 'GLUE MRPC: paraphrase (3,668 train / 408 dev); accuracy, F1, NLL',
  kind: 'classification',
  labels,
  maxLength: 256,
  extraMetrics: ['f1'],
  dataFiles: files,
  hub: glueHubSource(
    {
      config: 'mrpc',
      columns: { text: 'sentence1', pair: 'sentence2' },
      labelNames: labels,
    },
    labels,
  ),
  load(dataDir) {
    const path = (file: string) => requireDataFile('mrpc', dataDir, file);
    return lazySplits({
      train: () => mrpcTrain(path(files[0]!), path(files[1]!)),
      dev: () => readMrpcTsv(path(files[2]!)).map(({ ids: _ids, ...example }) => example),
    });
  },
};
