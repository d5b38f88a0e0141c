/** Multiple-choice tasks: causal-LM fine-tuning on prompt → target, then lm-eval's log-likelihood scoring. */
import { evaluateMultipleChoice } from '../evaluation/multiple-choice.js';
import { DEFAULT_EVAL_BATCH } from '../generation/batch-size.js';
import { promptTargetTraining } from './prompt-targets.js';
import type { TaskRunner } from './types.js';
import { requireDecoder } from '../models/model.js';

export const multipleChoiceRunner: TaskRunner<'multiple-choice'> = {
  ...promptTargetTraining,
  evalBatchSize: DEFAULT_EVAL_BATCH,
  evaluate: async (model, tokenizer, task, data, settings) =>
    evaluateMultipleChoice(requireDecoder(model, `Task ${task.name}`), tokenizer, data.eval, settings.batchSize),
  metrics: (scores) => ({ accuracy: scores.accuracy, nll: scores.nll, metrics: scores.metrics }),
  sampleRecords: (_task, data, scores) =>
    data.eval.map((doc, i) => ({
      doc_id: doc.id,
      input: doc.context,
      choices: doc.choices,
      target: doc.gold,
      ...scores.samples[i],
    })),
};
