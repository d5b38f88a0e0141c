/** Generation tasks: causal-LM fine-tuning on prompt → target, then generation scored by the task, and reference NLL. */
import { evaluateGeneration } from '../evaluation/generation.js';
import { DEFAULT_EVAL_BATCH } from '../generation/batch-size.js';
import { promptTargetTraining } from './prompt-targets.js';
import type { TaskRunner } from './types.js';
import { requireDecoder } from '../models/model.js';

export const generationRunner: TaskRunner<'generation'> = {
  ...promptTargetTraining,
  evalBatchSize: DEFAULT_EVAL_BATCH,
  evaluate: (model, tokenizer, task, data, settings) =>
    evaluateGeneration(
      requireDecoder(model, `Task ${task.name}`),
      tokenizer,
      task,
      data.eval,
      settings.decoding,
      settings.batchSize,
    ),
  metrics: (scores) => ({ accuracy: scores.accuracy, nll: scores.nll, metrics: scores.metrics }),
  sampleRecords: (_task, data, scores) =>
    data.eval.map((doc, i) => ({
      doc_id: doc.id,
      input: doc.prompt,
      // Chat variants: the whole conversation the template rendered (few-shot turns, then the prompt).
      ...(doc.chat === true ? { messages: [...(doc.chatHistory ?? []), { role: 'user', content: doc.prompt }] } : {}),
      // What the filtered response is compared with (lm-eval's target), and the reference whose NLL is reported.
      target: doc.answer ?? doc.reference,
      ...(doc.answer === undefined ? {} : { reference: doc.reference }),
      response: scores.responses[i],
      ...scores.samples[i],
    })),
};
