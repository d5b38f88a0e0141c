/** Classification tasks: a head on the model's last token, trained with the adapter; accuracy, NLL, F1/MCC on dev. */
import { limitClassificationSplits } from '../data/limit.js';
import type { ClassificationExample } from '../data/examples.js';
import { evaluateClassification } from '../evaluation/classification.js';
import { randomWeightInit } from '../models/init.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import type { EncodedExample } from '../train/fine-tune.js';
import type { TaskRunner } from './types.js';

/** A decoder reads a pair as one text, its two parts on separate lines. */
function exampleText(example: ClassificationExample): string {
  return example.textPair === undefined ? example.text : `${example.text}\n${example.textPair}`;
}

function encodeExamples(
  tokenizer: TextTokenizer,
  examples: readonly ClassificationExample[],
  maxLength: number,
): EncodedExample[] {
  return examples.map((example) => ({
    ids: tokenizer.encode(exampleText(example)).slice(0, maxLength),
    label: example.label,
  }));
}

export const classificationRunner: TaskRunner<'classification'> = {
  objective: 'classification',
  limit: limitClassificationSplits,
  evaluationSize: (data) => data.dev.length,
  promptTargets: () => undefined,
  prepareModel(model, task, rng) {
    model.addClassificationHead(task.labels.length, randomWeightInit(rng.fork('head'), model.config.initializerRange));
    // The head trains with every method, as PEFT's modules_to_save does for sequence classification.
    return [{ name: 'head', variables: model.score!.variables(), learningRateMultiplier: 1 }];
  },
  encodeTraining: (tokenizer, task, data) => encodeExamples(tokenizer, data.train, task.maxLength),
  evaluate: async (model, tokenizer, task, data) =>
    evaluateClassification(model, encodeExamples(tokenizer, data.dev, task.maxLength), task.extraMetrics),
  metrics: (scores) => ({
    accuracy: scores.accuracy,
    nll: scores.nll,
    ...(scores.f1 === undefined ? {} : { f1: scores.f1 }),
    ...(scores.mcc === undefined ? {} : { mcc: scores.mcc }),
  }),
  sampleRecords: (task, data, scores) =>
    data.dev.map((example, i) => {
      const row = scores.logProbabilities[i]!;
      const predicted = row.indexOf(Math.max(...row));
      return {
        doc_id: i,
        input: example.textPair === undefined ? example.text : [example.text, example.textPair],
        target: task.labels[example.label],
        prediction: task.labels[predicted],
        correct: predicted === example.label,
        logprobs: Object.fromEntries(task.labels.map((label, k) => [label, row[k]])),
      };
    }),
};
