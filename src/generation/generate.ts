/**
 * Batched text generation with a decoder: prompts are left-padded with positions counted from each row's first real
 * token; each step appends one token per row, reusing the KV cache (or, with `useCache: false`, re-running the whole
 * sequence, kept for benchmarks and as a reference). Stops per row at EOS, a stop sequence, or maxNewTokens.
 */
import { tf, type Tensor } from '../engine/tf.js';
import { Rng } from '../engine/rng.js';
import { EVAL_CONTEXT } from '../models/forward-context.js';
import type { KvCache, LlamaModel } from '../models/llama/model.js';
import { padBatch, positionIds } from '../models/tokenizers/padding.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { logSoftmax } from '../metrics/log-softmax.js';
import { chooseToken, GREEDY, type SamplingOptions } from './sampling.js';
import { cutAtStopSequence } from './stop-sequences.js';

export interface GenerationOptions {
  readonly maxNewTokens: number;
  readonly sampling?: SamplingOptions;
  readonly seed?: number;
  readonly stopSequences?: readonly string[];
  /** Token ids that end a row (default: the tokenizer's EOS). */
  readonly eosTokenIds?: readonly number[];
  readonly useCache?: boolean;
  /** Called after each decoding step with the number of steps done (benchmarks time it). */
  readonly onStep?: (steps: number) => void;
}

export type StopReason = 'eos' | 'stop-sequence' | 'max-new-tokens';

export interface GeneratedRow {
  /** The new tokens (EOS excluded). */
  readonly ids: number[];
  /** log p(token | everything before it) under the model's unmodified distribution, per new token. */
  readonly logprobs: number[];
  /** The decoded continuation, cut at the first stop sequence. */
  readonly text: string;
  readonly stopReason: StopReason;
}

function lastPositionLogits(model: LlamaModel, hidden: Tensor): Float32Array {
  return tf.tidy(() => {
    const [B, T] = hidden.shape as [number, number, number];
    const last = tf.reshape(tf.slice(hidden, [0, T - 1, 0], [B, 1, -1]), [B, -1]);
    return model.headLogits(last, EVAL_CONTEXT).dataSync() as Float32Array;
  });
}

export function generate(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  prompts: readonly (readonly number[])[],
  options: GenerationOptions,
): GeneratedRow[] {
  const sampling = options.sampling ?? GREEDY;
  const rng = new Rng(options.seed ?? 0);
  const eos = new Set(options.eosTokenIds ?? [tokenizer.eosId]);
  const stops = options.stopSequences ?? [];
  const useCache = options.useCache ?? true;
  const vocab = model.config.vocabSize;
  const B = prompts.length;
  const rows = prompts.map(() => ({
    ids: [] as number[],
    logprobs: [] as number[],
    text: '',
    done: false,
    reason: 'max-new-tokens' as StopReason,
  }));

  const prompt = padBatch(prompts, model.config.padTokenId, { side: 'left' });
  // Decoded once: every step's stop-sequence check needs the text the new tokens add to it.
  const promptTexts = prompts.map((ids) => tokenizer.decode(ids));
  let keyMask = Array.from(prompt.mask);
  let positions = Array.from(positionIds(prompt));
  let cache: KvCache | undefined;
  const disposeCache = () => cache?.keys.concat(cache.values).forEach((t) => t.dispose());

  try {
    for (let step = 0; step < options.maxNewTokens && rows.some((row) => !row.done); step++) {
      let logits: Float32Array;
      if (step === 0 || !useCache) {
        // The whole (left-padded) sequence so far.
        const length = keyMask.length / B;
        const ids = new Int32Array(B * length);
        for (let b = 0; b < B; b++) {
          const generated = rows[b]!.ids;
          const promptRow = prompt.ids.subarray(b * prompt.length, (b + 1) * prompt.length);
          ids.set(promptRow, b * length);
          ids.set(
            generatedTail(generated, length - prompt.length, model.config.padTokenId),
            b * length + prompt.length,
          );
        }
        const input = {
          batchSize: B,
          length,
          ids,
          positions: Int32Array.from(positions),
          keyMask: Int32Array.from(keyMask),
        };
        const result = tf.tidy(() => {
          const out = model.decode(input, EVAL_CONTEXT, { returnCache: useCache });
          return { hidden: out.hidden, keys: [...(out.cache?.keys ?? [])], values: [...(out.cache?.values ?? [])] };
        });
        logits = lastPositionLogits(model, result.hidden);
        result.hidden.dispose();
        if (useCache) cache = { keys: result.keys, values: result.values, length };
      } else {
        const last = rows.map((row) => row.ids[row.ids.length - 1] ?? model.config.padTokenId);
        const input = {
          batchSize: B,
          length: 1,
          ids: Int32Array.from(last),
          positions: Int32Array.from(positionsOfLast(positions, B)),
          keyMask: Int32Array.from(keyMask),
        };
        const previous = cache!;
        const result = tf.tidy(() => {
          const out = model.decode(input, EVAL_CONTEXT, { past: previous, returnCache: true });
          return { hidden: out.hidden, keys: [...out.cache!.keys], values: [...out.cache!.values] };
        });
        disposeCache();
        cache = { keys: result.keys, values: result.values, length: previous.length + 1 };
        logits = lastPositionLogits(model, result.hidden);
        result.hidden.dispose();
      }

      for (let b = 0; b < B; b++) {
        const row = rows[b]!;
        const rowLogits = logits.subarray(b * vocab, (b + 1) * vocab);
        // A finished row keeps stepping with the batch (its outputs are ignored) so shapes stay rectangular.
        const token = row.done ? model.config.padTokenId : chooseToken(rowLogits, sampling, rng);
        if (!row.done) {
          if (eos.has(token)) {
            row.done = true;
            row.reason = 'eos';
          } else {
            row.ids.push(token);
            row.logprobs.push(logSoftmax(rowLogits)[token]!);
            const cut = cutAtStopSequence(continuationText(tokenizer, prompts[b]!, row.ids, promptTexts[b]), stops);
            row.text = cut.text;
            if (cut.stopped) {
              row.done = true;
              row.reason = 'stop-sequence';
            }
          }
        }
      }
      // Extend masks and positions by the token just chosen (padding for finished rows).
      const length = keyMask.length / B;
      const nextMask: number[] = [];
      const nextPositions: number[] = [];
      for (let b = 0; b < B; b++) {
        nextMask.push(...keyMask.slice(b * length, (b + 1) * length), 1);
        const rowPositions = positions.slice(b * length, (b + 1) * length);
        nextPositions.push(...rowPositions, rowPositions[length - 1]! + 1);
      }
      keyMask = nextMask;
      positions = nextPositions;
      options.onStep?.(step + 1);
    }
  } finally {
    disposeCache();
  }
  return rows.map((row, i) => ({
    ids: row.ids,
    logprobs: row.logprobs,
    text: row.reason === 'stop-sequence' ? row.text : continuationText(tokenizer, prompts[i]!, row.ids, promptTexts[i]),
    stopReason: row.reason,
  }));
}

/** A row's generated ids padded at the end to `length` (rows that stopped early hold padding afterwards). */
function generatedTail(generated: readonly number[], length: number, padId: number): Int32Array {
  const tail = new Int32Array(length).fill(padId);
  tail.set(generated.slice(0, length));
  return tail;
}

/** The position of each row's newest token: the last column of the position table. */
function positionsOfLast(positions: readonly number[], batchSize: number): number[] {
  const length = positions.length / batchSize;
  return Array.from({ length: batchSize }, (_, b) => positions[(b + 1) * length - 1]!);
}

/**
 * The text the new tokens add to the prompt. Decoding them alone would lose a leading space with SentencePiece-style
 * decoders (which strip the first "▁"), so the prompt is decoded with and without them and the difference taken.
 */
export function continuationText(
  tokenizer: TextTokenizer,
  prompt: readonly number[],
  generated: readonly number[],
  promptText = tokenizer.decode(prompt),
): string {
  const before = promptText;
  const after = tokenizer.decode([...prompt, ...generated]);
  return after.startsWith(before) ? after.slice(before.length) : tokenizer.decode(generated);
}
