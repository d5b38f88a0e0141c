/**
 * Classification tasks: a head on a decoder's last token or an encoder's first, trained with the adapter; accuracy,
 * NLL, F1/MCC on dev.
 */
import { limitClassificationSplits } from '../data/limit.js';
import type { ClassificationExample } from '../data/examples.js';
import { CLASSIFICATION_EVAL_BATCH, evaluateClassification } from '../evaluation/classification.js';
import { randomWeightInit } from '../models/init.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { HfTokenizer } from '../models/tokenizers/hf-tokenizer.js';
import { longestFirst } from '../models/tokenizers/longest-first.js';
import { EncoderModel } from '../models/encoder/model.js';
import type { Model } from '../models/model.js';
import type { EncodedExample } from '../train/fine-tune.js';
import type { TaskRunner } from './types.js';
import { classificationHeadGroup } from '../peft/types.js';

/**
 * A decoder reads a pair as one text, its two parts on separate lines. Past `maxLength` tokens a pair is cut as
 * transformers cuts pairs by default (longest_first: `longestFirst`, the BOS token outside the budget), so both parts
 * survive — cut at the end of the joined text, 785 of RTE's 2,490 training pairs lost their hypothesis entirely at 256
 * byte-level tokens (518 with stories260K's tokenizer). A single text loses its end.
 */
export function encodeClassificationExample(
  tokenizer: TextTokenizer,
  example: ClassificationExample,
  maxLength: number,
): number[] {
  const pair = example.textPair;
  const whole = tokenizer.encode(pair === undefined ? example.text : `${example.text}\n${pair}`);
  if (pair === undefined || whole.length <= maxLength) return whole.slice(0, maxLength);
  const first = tokenizer.encode(example.text);
  const bos = first[0] === tokenizer.bosId ? 1 : 0;
  // The second part's tokens as the joined text has them, where the first part's tokens begin it (they do, unless
  // a tokenizer merges across the line break).
  const second = first.every((id, i) => whole[i] === id)
    ? whole.slice(first.length)
    : tokenizer.encode(`\n${pair}`, { addBos: false });
  const [keepFirst, keepSecond] = longestFirst(first.length - bos, second.length, maxLength - bos, true);
  return [...first.slice(0, bos + keepFirst), ...second.slice(0, keepSecond)];
}

/**
 * An encoder reads a pair as its tokenizer's pair template ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>) with
 * token type ids, cut longest_first to the task's length or the model's, whichever is shorter — as transformers'
 * GLUE scripts tokenize.
 */
function encodeForEncoder(
  model: EncoderModel,
  tokenizer: TextTokenizer,
  examples: readonly ClassificationExample[],
  maxLength: number,
): EncodedExample[] {
  if (!(tokenizer instanceof HfTokenizer))
    throw new Error('An encoder needs its own tokenizer.json (a Hugging Face tokenizer) to encode pairs');
  const length = Math.min(maxLength, model.maxSequenceLength);
  return examples.map((example) => ({
    ...tokenizer.encodeTruncated(example.text, example.textPair, length),
    label: example.label,
  }));
}

function encodeExamples(
  model: Model,
  tokenizer: TextTokenizer,
  examples: readonly ClassificationExample[],
  maxLength: number,
): EncodedExample[] {
  if (model instanceof EncoderModel) return encodeForEncoder(model, tokenizer, examples, maxLength);
  return examples.map((example) => ({
    ids: encodeClassificationExample(tokenizer, example, maxLength),
    label: example.label,
  }));
}

export const classificationRunner: TaskRunner<'classification'> = {
  objective: 'classification',
  limit: limitClassificationSplits,
  evalBatchSize: CLASSIFICATION_EVAL_BATCH,
  evaluationSize: (data) => data.dev.length,
  promptTargets: () => undefined,
  prepareModel(model, task, rng) {
    model.addClassificationHead(task.labels.length, randomWeightInit(rng.fork('head'), model.config.initializerRange));
    return [classificationHeadGroup(model)];
  },
  encodeTraining: (tokenizer, task, data, model) => encodeExamples(model, tokenizer, data.train, task.maxLength),
  evaluate: async (model, tokenizer, task, data, settings) =>
    evaluateClassification(
      model,
      encodeExamples(model, tokenizer, data.dev, task.maxLength),
      task.extraMetrics,
      settings.batchSize,
    ),
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
