/** QNLI (GLUE): does the sentence answer the question? Files: qnli/train.tsv, qnli/dev.tsv. */
import { glueTask } from './glue-task.js';

export const qnli = glueTask({
  name: 'qnli',
  description: 'GLUE QNLI: question–sentence entailment (104,743 train / 5,463 dev); accuracy, NLL',
  trainFile: 'qnli/train.tsv',
  devFile: 'qnli/dev.tsv',
  hub: {
    config: 'qnli',
    columns: { text: 'question', pair: 'sentence' },
    labelNames: ['entailment', 'not_entailment'],
  },
  columns: { text: 'question', pair: 'sentence', label: 'label' },
  labelValues: ['not_entailment', 'entailment'],
  maxLength: 256,
});
