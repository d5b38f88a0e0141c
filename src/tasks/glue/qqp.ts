/** QQP (GLUE): are the two questions duplicates? Files: qqp/train.tsv, qqp/dev.tsv. */
import { glueTask } from './glue-task.js';

export const qqp = glueTask({
  name: 'qqp',
  description: 'GLUE QQP: duplicate questions (363,846 train / 40,430 dev); accuracy, F1, NLL',
  trainFile: 'qqp/train.tsv',
  devFile: 'qqp/dev.tsv',
  hub: {
    config: 'qqp',
    columns: { text: 'question1', pair: 'question2' },
    labelNames: ['not_duplicate', 'duplicate'],
  },
  columns: { text: 'question1', pair: 'question2', label: 'is_duplicate' },
  labelValues: ['0', '1'],
  labels: ['not_duplicate', 'duplicate'],
  maxLength: 256,
  extraMetrics: ['f1'],
});
