/**
 * MNLI (GLUE), evaluated on both dev sets as GLUE reports it: `mnli-matched` (dev_matched.tsv) and `mnli-mismatched`
 * (dev_mismatched.tsv), both trained on mnli/train.tsv. Labels from gold_label.
 */
import { glueTask } from './glue-task.js';

const mnliHub = (evalSplit: string) => ({
  config: 'mnli',
  eval: evalSplit,
  columns: { text: 'premise', pair: 'hypothesis' },
  labelNames: ['entailment', 'neutral', 'contradiction'],
});

const shared = {
  trainFile: 'mnli/train.tsv',
  columns: { text: 'sentence1', pair: 'sentence2', label: 'gold_label' },
  labelValues: ['contradiction', 'entailment', 'neutral'],
  maxLength: 256,
};

export const mnliMatched = glueTask({
  ...shared,
  name: 'mnli-matched',
  description: 'GLUE MNLI, matched dev (392,702 train / 9,815 dev); accuracy, NLL',
  hub: mnliHub('validation_matched'),
  devFile: 'mnli/dev_matched.tsv',
});
export const mnliMismatched = glueTask({
  ...shared,
  name: 'mnli-mismatched',
  description: 'GLUE MNLI, mismatched dev (392,702 train / 9,832 dev); accuracy, NLL',
  hub: mnliHub('validation_mismatched'),
  devFile: 'mnli/dev_mismatched.tsv',
});
