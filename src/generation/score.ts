/**
 * Log-likelihood of continuations given contexts — the primitive multiple-choice tasks are scored with (lm-eval's
 * loglikelihood requests): the sum of the continuation tokens' log-probabilities, whether each was the greedy choice,
 * and token and character counts for length normalisation. Batched with right padding.
 */
import { tf } from '../engine/tf.js';
import { EVAL_CONTEXT } from '../models/forward-context.js';
import type { LlamaModel } from '../models/llama/model.js';
import { padBatch, type PaddedBatch } from '../models/tokenizers/padding.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { logSoftmax } from '../metrics/log-softmax.js';
import { fitScoredToWindow } from './context-window.js';

export interface ContinuationScore {
  /** Σ log p(continuation token | everything before it), in nats. */
  readonly logprob: number;
  /** Per continuation token. */
  readonly tokenLogprobs: number[];
  /** Every continuation token was the argmax (lm-eval's is_greedy). */
  readonly isGreedy: boolean;
  readonly tokens: number;
  readonly characters: number;
}

/**
 * Scores token sequences: for each, the log-probabilities of tokens [from, end) given their prefixes. A sequence
 * longer than the model's window is cut on the left first (lm-eval's rule), so its earliest scored tokens may lose
 * part of their context — and, past window + 1 tokens of continuation, are not scored.
 */
export async function scoreTokenSpans(
  model: LlamaModel,
  sequences: readonly { readonly ids: readonly number[]; readonly from: number }[],
  batchSize = 16,
): Promise<{ tokenLogprobs: number[]; isGreedy: boolean }[]> {
  const results: { tokenLogprobs: number[]; isGreedy: boolean }[] = [];
  const window = model.config.maxPositionEmbeddings;
  for (let start = 0; start < sequences.length; start += batchSize) {
    const chunk = sequences
      .slice(start, start + batchSize)
      .map((sequence) => fitScoredToWindow(sequence.ids, sequence.from, window));
    const batch = padBatch(
      chunk.map((sequence) => sequence.ids),
      model.config.padTokenId,
    );
    // Token t is predicted by the logits at position t − 1: those positions, and only those, are read back.
    const scored = chunk.map((sequence) => Math.max(1, sequence.from));
    const rows = chunk.flatMap((sequence, b) =>
      sequence.ids.slice(scored[b]!).map((_, i) => b * batch.length + scored[b]! + i - 1),
    );
    const values = rows.length === 0 ? new Float32Array(0) : await readLogitsAt(model, batch, rows);
    const V = model.config.vocabSize;
    let row = 0;
    chunk.forEach((sequence, b) => {
      const tokenLogprobs: number[] = [];
      let isGreedy = true;
      for (let t = scored[b]!; t < sequence.ids.length; t++, row++) {
        const logprobs = logSoftmax(values.subarray(row * V, (row + 1) * V));
        const token = sequence.ids[t]!;
        tokenLogprobs.push(logprobs[token]!);
        if (logprobs.some((value) => value > logprobs[token]!)) isGreedy = false;
      }
      results.push({ tokenLogprobs, isGreedy });
    });
  }
  return results;
}

/** The logits at flat positions `rows` of a batch, [rows, vocab] read back to the host. */
async function readLogitsAt(model: LlamaModel, batch: PaddedBatch, rows: readonly number[]): Promise<Float32Array> {
  const logits = tf.tidy(() => model.logitsAt(batch, rows, EVAL_CONTEXT));
  const values = (await logits.data()) as Float32Array;
  logits.dispose();
  return values;
}

/**
 * lm-eval's loglikelihood. As its _encode_pair does, the context's trailing spaces move to the continuation, the
 * whole text is encoded once and the continuation is what follows the context's tokens — encoding the continuation
 * alone would give SentencePiece tokenizers a spurious word-boundary piece.
 */
export async function scoreContinuations(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  requests: readonly { readonly context: string; readonly continuation: string }[],
): Promise<ContinuationScore[]> {
  const sequences = requests.map(({ context, continuation }) => {
    const trimmed = context.trimEnd();
    const moved = context.slice(trimmed.length) + continuation;
    const contextIds = tokenizer.encode(trimmed);
    return { ids: tokenizer.encode(trimmed + moved), from: contextIds.length };
  });
  return (await scoreTokenSpans(model, sequences)).map((scored, i) => ({
    logprob: scored.tokenLogprobs.reduce((a, b) => a + b, 0),
    tokenLogprobs: scored.tokenLogprobs,
    isGreedy: scored.isGreedy,
    tokens: scored.tokenLogprobs.length,
    characters: requests[i]!.continuation.length,
  }));
}
