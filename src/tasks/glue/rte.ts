/** RTE (GLUE): does sentence1 entail sentence2? Files: rte/train.tsv, rte/dev.tsv (GLUE's download layout). */
import { glueTask } from './glue-task.js';

export const rte = glueTask({
  name: 'rte',
  description: 'GLUE RTE: textual entailment (2,490 train / 277 dev); accuracy, NLL',
  trainFile: 'rte/train.tsv',
  devFile: 'rte/dev.tsv',
  hub: {
    config: 'rte',
    columns: { text: 'sentence1', pair: 'sentence2' },
    labelNames: ['entailment', 'not_entailment'],
  },
  columns: { text: 'sentence1', pair: 'sentence2', label: 'label' },
  labelValues: ['not_entailment', 'entailment'],
  maxLength: 256,
});
