/**
 * Scores any generation task: greedy generation from each prompt (batched, KV cache, stopped at the task's stop
 * sequences), the task's own scoring of the responses, and the mean NLL per token of the references given their
 * prompts (teacher-forced) — the intrinsic robustness the table reports for generation tasks too.
 */
import { tf } from '../engine/tf.js';
import { readAndDispose } from '../engine/host-reads.js';
import { withEvaluationContext, type ForwardContext } from '../models/forward-context.js';
import type { LlamaModel } from '../models/llama/model.js';
import { longestFirst, longestFirstBatches, padBatch } from '../models/tokenizers/padding.js';
import { DEFAULT_EVAL_BATCH } from '../generation/batch-size.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { causalLmLoss, targetMask } from '../train/loss.js';
import { generate } from '../generation/generate.js';
import { fitPromptToWindow, fitScoredToWindow } from '../generation/context-window.js';
import { promptContinuationIds, promptIds } from './prompt-rendering.js';
import type { DecodingSettings, GenerationDoc, GenerationTask } from '../tasks/types.js';

export interface GenerationEvaluation {
  /** The task's primary metric. */
  readonly accuracy: number;
  readonly nll: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly responses: readonly string[];
  /** The task's per-document records (filtered predictions, correctness, verdicts). */
  readonly samples: readonly Readonly<Record<string, unknown>>[];
}

/**
 * Mean −log p per reference token given its prompt (cut on the left to the model's window), over all references, in
 * batches taken longest first; in `shared`'s evaluation context where given (withEvaluationContext).
 */
export async function referenceNll(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  docs: readonly GenerationDoc[],
  batchSize = DEFAULT_EVAL_BATCH,
  shared?: ForwardContext,
): Promise<number> {
  return withEvaluationContext(async (context) => {
    const rows = docs.map((doc) => {
      const row = promptContinuationIds(tokenizer, doc.prompt, doc.reference, {
        chat: doc.chat,
        chatHistory: doc.chatHistory,
        maxLength: Number.POSITIVE_INFINITY, // the window below bounds the length, cutting the prompt, not the reference
      });
      const fitted = fitScoredToWindow(row.ids, row.targetStart, model.config.maxPositionEmbeddings);
      return { ids: fitted.ids, targetStart: fitted.from };
    });
    let total = 0;
    let count = 0;
    for (const { items: chunk } of longestFirstBatches(rows, batchSize)) {
      const batch = padBatch(
        chunk.map((row) => row.ids),
        model.config.padTokenId,
      );
      const targets = targetMask(batch, chunk);
      // The loss counts a target at position t ≥ 1 only (position 0 has nothing before it).
      const counted = targets.filter((value, i) => value === 1 && i % batch.length !== 0).length;
      if (counted === 0) continue;
      const loss = tf.tidy(() => causalLmLoss(model, batch, context, targets));
      const mean = (await readAndDispose(loss))[0]!;
      total += mean * counted;
      count += counted;
    }
    return count === 0 ? Number.NaN : total / count;
  }, shared);
}

/**
 * `decoding.samples` responses per doc (greedy when the temperature is 0), `batchSize` rows decoded at once, the
 * prompts taken longest first (lm-eval's order: rows decoded together pad their prompts little) and joining the batch
 * as its rows stop (generate's `batchSize` and MCEVAL_GENERATION_JOIN: continuous batching by default). Sample k of doc i draws from stream i · samples + k
 * of `decoding.seed`, so a doc's samples do not depend on which docs share its batch or how many docs are evaluated.
 * The generation runs in `shared`'s evaluation context where given: what the weights derive (DoRA's norms) is made
 * once.
 */
export async function generateResponses(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  task: GenerationTask,
  docs: readonly GenerationDoc[],
  decoding: DecodingSettings = GREEDY_DECODING,
  batchSize = DEFAULT_EVAL_BATCH,
  shared?: ForwardContext,
): Promise<string[][]> {
  const perDoc = docs.map(() => [] as string[]);
  const window = model.config.maxPositionEmbeddings;
  const unordered = docs.flatMap((doc, i) => {
    const ids = fitPromptToWindow(promptIds(tokenizer, doc.prompt, doc), window, task.maxNewTokens);
    return Array.from({ length: decoding.samples }, (_, k) => ({ doc: i, sample: k, ids }));
  });
  const requests = longestFirst(unordered.map((request) => request.ids.length)).map((i) => unordered[i]!);
  const rows = await generate(
    model,
    tokenizer,
    requests.map((request) => request.ids),
    {
      maxNewTokens: task.maxNewTokens,
      stopSequences: task.stopSequences,
      sampling: { temperature: decoding.temperature, topK: 0, topP: decoding.topP },
      seed: decoding.seed,
      streams: requests.map((request) => request.doc * decoding.samples + request.sample),
      batchSize,
      context: shared,
    },
  );
  rows.forEach((row, i) => {
    const request = requests[i]!;
    perDoc[request.doc]![request.sample] = row.text;
  });
  return perDoc;
}

export const GREEDY_DECODING: DecodingSettings = { samples: 1, temperature: 0, topP: 1, seed: 0 };

export async function evaluateGeneration(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  task: GenerationTask,
  docs: readonly GenerationDoc[],
  decoding: DecodingSettings = GREEDY_DECODING,
  batchSize = DEFAULT_EVAL_BATCH,
): Promise<GenerationEvaluation> {
  // The responses and the references' NLL in one evaluation context: DoRA's norms made once for both.
  const { sampled, nll } = await withEvaluationContext(async (context) => ({
    sampled: await generateResponses(model, tokenizer, task, docs, decoding, batchSize, context),
    nll: await referenceNll(model, tokenizer, docs, batchSize, context),
  }));
  const responses = sampled.map((set) => set[0]!);
  const scores =
    decoding.samples > 1 && task.scoreSamples !== undefined
      ? await task.scoreSamples(docs, sampled)
      : await task.score(docs, responses);
  return { accuracy: scores.primary, nll, metrics: scores.metrics, responses, samples: scores.samples };
}
