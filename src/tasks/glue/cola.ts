/** CoLA (GLUE): is the sentence grammatical? Files: cola/train.tsv, cola/dev.tsv (no header, 4 columns). */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { glueHubSource, readColaTsv } from '../../data/loaders/glue.js';
import type { ClassificationTask } from '../types.js';

const labels = ['unacceptable', 'acceptable'];

const files = ['cola/train.tsv', 'cola/dev.tsv'];

export const cola: ClassificationTask = {
  name: 'cola',
  description: "GLUE CoLA: grammatical acceptability (8,551 train / 1,043 dev); accuracy, Matthews' correlation, NLL",
  kind: 'classification',
  labels,
  maxLength: 128,
  extraMetrics: ['mcc'],
  dataFiles: files,
  hub: glueHubSource({ config: 'cola', columns: { text: 'sentence' }, labelNames: labels }, labels),
  load(dataDir) {
    const read = (file: string) => readColaTsv(requireDataFile('cola', dataDir, file));
    return lazySplits({ train: () => read(files[0]!), dev: () => read(files[1]!) });
  },
};
