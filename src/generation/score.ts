/**
 * Log-likelihood of continuations given contexts — the primitive multiple-choice tasks are scored with (lm-eval's
 * loglikelihood requests): the sum of the continuation tokens' log-probabilities, whether each was the greedy choice,
 * and token and character counts for length normalisation. Batched with right padding.
 */
import { tf } from '../engine/tf.js';
import { withEvaluationContext, type ForwardContext } from '../models/forward-context.js';
import type { LlamaModel } from '../models/llama/model.js';
import { longestFirstBatches, padBatch, type PaddedBatch } from '../models/tokenizers/padding.js';
import { DEFAULT_EVAL_BATCH } from './batch-size.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { pickedLogits } from '../engine/ops/cross-entropy.js';
import { headChunkRows, rowChunks } from '../engine/ops/head-cross-entropy.js';
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
  batchSize = DEFAULT_EVAL_BATCH,
): Promise<{ tokenLogprobs: number[]; isGreedy: boolean }[]> {
  return withEvaluationContext(async (context) => {
    const results: { tokenLogprobs: number[]; isGreedy: boolean }[] = [];
    const window = model.config.maxPositionEmbeddings;
    const fitted = sequences.map((sequence) => fitScoredToWindow(sequence.ids, sequence.from, window));
    // Batched longest first, so that a batch's sequences are about as long as each other; results in their order.
    for (const { indices, items: chunk } of longestFirstBatches(fitted, batchSize)) {
      const batch = padBatch(
        chunk.map((sequence) => sequence.ids),
        model.config.padTokenId,
      );
      // Token t is predicted by the logits at position t − 1: those positions are scored, on the device.
      const scored = chunk.map((sequence) => Math.max(1, sequence.from));
      const rows = chunk.flatMap((sequence, b) =>
        sequence.ids.slice(scored[b]!).map((_, i) => b * batch.length + scored[b]! + i - 1),
      );
      const tokens = chunk.flatMap((sequence, b) => sequence.ids.slice(scored[b]!));
      const { logprobs, greedy } =
        rows.length === 0
          ? { logprobs: new Float32Array(0), greedy: new Uint8Array(0) }
          : await scoreRows(model, batch, rows, tokens, context);
      let row = 0;
      for (const [b, sequence] of chunk.entries()) {
        const count = Math.max(0, sequence.ids.length - scored[b]!);
        results[indices[b]!] = {
          tokenLogprobs: Array.from(logprobs.subarray(row, row + count)),
          isGreedy: greedy.subarray(row, row + count).every((flag) => flag === 1),
        };
        row += count;
      }
    }
    return results;
  });
}

/**
 * log p(token) of each scored row — z[token] − logsumexp(z), in float32 on the device as lm-eval's log_softmax is on
 * the model's — and whether the token is a largest logit (lm-eval's is_greedy; a tie counts). Two numbers per row
 * come back to the host rather than a row of the vocabulary (128k floats with a Llama 3 tokenizer).
 */
async function scoreRows(
  model: LlamaModel,
  batch: PaddedBatch,
  rows: readonly number[],
  tokens: readonly number[],
  context: ForwardContext,
): Promise<{ logprobs: Float32Array; greedy: Uint8Array }> {
  const [logprobs, greedy] = tf.tidy(() => {
    const hidden = model.hiddenAt(batch, rows, context);
    // The head over chunks of rows, so that [rows, vocab] logits never exist at once (headChunkRows).
    const head = model.chunkedHeadReader(context);
    const chunks = rowChunks(rows.length, headChunkRows(model.config.vocabSize)).map(([start, size]) =>
      tf.tidy(() => {
        const logits = head(tf.slice(hidden, [start, 0], [size, -1]));
        const picked = pickedLogits(logits, tokens.slice(start, start + size));
        return [tf.sub(picked, tf.logSumExp(logits, 1)), tf.cast(tf.greaterEqual(picked, tf.max(logits, 1)), 'int32')];
      }),
    );
    return [tf.concat(chunks.map((chunk) => chunk[0]!)), tf.concat(chunks.map((chunk) => chunk[1]!))];
  });
  try {
    const [values, flags] = await Promise.all([logprobs!.data(), greedy!.data()]);
    return { logprobs: values as Float32Array, greedy: Uint8Array.from(flags as Int32Array) };
  } finally {
    logprobs!.dispose();
    greedy!.dispose();
  }
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
  batchSize?: number,
): Promise<ContinuationScore[]> {
  const sequences = requests.map(({ context, continuation }) => {
    const trimmed = context.trimEnd();
    const moved = context.slice(trimmed.length) + continuation;
    const contextIds = tokenizer.encode(trimmed);
    return { ids: tokenizer.encode(trimmed + moved), from: contextIds.length };
  });
  return (await scoreTokenSpans(model, sequences, batchSize)).map((scored, i) => ({
    logprob: scored.tokenLogprobs.reduce((a, b) => a + b, 0),
    tokenLogprobs: scored.tokenLogprobs,
    isGreedy: scored.isGreedy,
    tokens: scored.tokenLogprobs.length,
    characters: requests[i]!.continuation.length,
  }));
}
