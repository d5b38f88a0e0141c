/** SST-2 (GLUE): sentence sentiment. Files: sst2/train.tsv, sst2/dev.tsv (GLUE's SST-2 folder). */
import { glueTask } from './glue-task.js';

export const sst2 = glueTask({
  name: 'sst2',
  description: 'GLUE SST-2: binary sentiment (67,349 train / 872 dev); accuracy, NLL',
  trainFile: 'sst2/train.tsv',
  devFile: 'sst2/dev.tsv',
  hub: {
    config: 'sst2',
    columns: { text: 'sentence' },
    labelNames: ['negative', 'positive'],
  },
  columns: { text: 'sentence', label: 'label' },
  labelValues: ['0', '1'],
  labels: ['negative', 'positive'],
  maxLength: 128,
});
