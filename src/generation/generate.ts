/**
 * Batched text generation with a decoder: prompts are left-padded with positions counted from each row's first real
 * token; each step appends one token per row, reusing the KV cache (or, with `useCache: false`, re-running the whole
 * sequence, kept for benchmarks and as a reference). Stops per row at EOS, a stop sequence, or maxNewTokens; once half
 * the batch has stopped, the stopped rows leave it (their KV cache rows with them), so later steps run fewer rows.
 */
import { tf, type Tensor, type Tensor3D } from '../engine/tf.js';
import { Rng } from '../engine/rng.js';
import { EVAL_CONTEXT, withEvaluationContext, type ForwardContext } from '../models/forward-context.js';
import type { KvCache, LlamaModel } from '../models/llama/model.js';
import { padBatch, positionIds, type PaddedBatch } from '../models/tokenizers/padding.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { logSoftmax } from '../metrics/log-softmax.js';
import { chooseToken, GREEDY, type SamplingOptions } from './sampling.js';
import { cutAtStopSequence } from './stop-sequences.js';

export interface GenerationOptions {
  readonly maxNewTokens: number;
  readonly sampling?: SamplingOptions;
  readonly seed?: number;
  /**
   * Each row's sampling stream under `seed` (default: its row number). A row draws from its own stream alone, so its
   * samples do not depend on which other prompts share its batch, or on how far they have got.
   */
  readonly streams?: readonly number[];
  readonly stopSequences?: readonly string[];
  /** Token ids that end a row (default: the tokenizer's EOS). */
  readonly eosTokenIds?: readonly number[];
  readonly useCache?: boolean;
  /** Called after each decoding step with the number of steps done (benchmarks time it). */
  readonly onStep?: (steps: number) => void;
  /**
   * The evaluation context (withEvaluationContext's) of several calls over unchanging weights — an evaluation's batches
   * of prompts — so that what the weights derive (DoRA's norms) is made once for all of them; by default the call
   * makes its own.
   */
  readonly context?: ForwardContext;
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

/** Read asynchronously, so generation also runs on backends without synchronous reads (WebGPU in Node). */
async function lastPositionLogits(model: LlamaModel, hidden: Tensor): Promise<Float32Array> {
  const logits = tf.tidy(() => {
    const [B, T] = hidden.shape as [number, number, number];
    // A decoding step's hidden states are its last position's already: a reshape, where a slice is a dispatch.
    const last = tf.reshape(T === 1 ? hidden : tf.slice(hidden, [0, T - 1, 0], [B, 1, -1]), [B, -1]);
    return model.headLogits(last, EVAL_CONTEXT);
  });
  try {
    return (await logits.data()) as Float32Array;
  } finally {
    logits.dispose();
  }
}

interface RowState {
  ids: number[];
  logprobs: number[];
  text: string;
  done: boolean;
  reason: StopReason;
}

/**
 * Where decoding stands: every row's output so far, and for the batch (the rows still decoding) their left-padded
 * prompts, key masks and positions, and the KV cache.
 */
interface DecodingState {
  /** The batch rows' prompts, left-padded. */
  prompt: PaddedBatch;
  /** The decoding passes' context: what their weights derive made once for the call. */
  readonly context: ForwardContext;
  /** Every row, in the prompts' order. */
  readonly rows: RowState[];
  /** The batch: batch row i is rows[batchRows[i]]. */
  batchRows: number[];
  keyMask: number[];
  positions: number[];
  cache?: KvCache;
  /** Positions the cache is made to hold: the prompt's and those of every new token a step runs. */
  readonly cacheCapacity: number;
}

export async function generate(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  prompts: readonly (readonly number[])[],
  options: GenerationOptions,
): Promise<GeneratedRow[]> {
  return withEvaluationContext((context) => generateIn(context, model, tokenizer, prompts, options), options.context);
}

/** generate, its decoding passes run in `context`. */
async function generateIn(
  context: ForwardContext,
  model: LlamaModel,
  tokenizer: TextTokenizer,
  prompts: readonly (readonly number[])[],
  options: GenerationOptions,
): Promise<GeneratedRow[]> {
  const sampling = options.sampling ?? GREEDY;
  if (options.streams !== undefined && options.streams.length !== prompts.length)
    throw new Error(`generate: ${options.streams.length} sampling streams for ${prompts.length} prompts`);
  const seeded = new Rng(options.seed ?? 0);
  const rngs = prompts.map((_, b) => seeded.fork(`stream ${options.streams?.[b] ?? b}`));
  const eos = new Set(options.eosTokenIds ?? [tokenizer.eosId]);
  const stops = options.stopSequences ?? [];
  const useCache = options.useCache ?? true;
  const vocab = model.config.vocabSize;
  const prompt = padBatch(prompts, model.config.padTokenId, { side: 'left' });
  const state: DecodingState = {
    prompt,
    context,
    rows: prompts.map(() => ({ ids: [], logprobs: [], text: '', done: false, reason: 'max-new-tokens' })),
    batchRows: prompts.map((_, b) => b),
    keyMask: Array.from(prompt.mask),
    positions: Array.from(positionIds(prompt)),
    // The last new token is chosen, never run.
    cacheCapacity: prompt.length + Math.max(options.maxNewTokens - 1, 0),
  };
  // Decoded once: every step's stop-sequence check needs the text the new tokens add to it.
  const promptTexts = prompts.map((ids) => tokenizer.decode(ids));

  try {
    for (let step = 0; step < options.maxNewTokens && state.batchRows.length > 0; step++) {
      const logits = !useCache
        ? await wholeSequenceLogits(model, state, false)
        : step === 0
          ? await promptLogits(model, state, prompts)
          : await cachedStepLogits(model, state);
      state.batchRows.forEach((b, i) => {
        const row = state.rows[b]!;
        // A stopped row stays in the batch (its outputs ignored) until half the batch has stopped.
        if (row.done) return;
        const rowLogits = logits.subarray(i * vocab, (i + 1) * vocab);
        const token = chooseToken(rowLogits, sampling, rngs[b]!);
        if (eos.has(token)) {
          row.done = true;
          row.reason = 'eos';
          return;
        }
        row.ids.push(token);
        row.logprobs.push(logSoftmax(rowLogits)[token]!);
        const cut = cutAtStopSequence(continuationText(tokenizer, prompts[b]!, row.ids, promptTexts[b]), stops);
        row.text = cut.text;
        if (cut.stopped) {
          row.done = true;
          row.reason = 'stop-sequence';
        }
      });
      extendByOneToken(state);
      dropFinishedRows(state);
      options.onStep?.(step + 1);
    }
  } finally {
    disposeCache(state.cache);
  }
  return state.rows.map((row, i) => ({
    ids: row.ids,
    logprobs: row.logprobs,
    text: row.reason === 'stop-sequence' ? row.text : continuationText(tokenizer, prompts[i]!, row.ids, promptTexts[i]),
    stopReason: row.reason,
  }));
}

function disposeCache(cache: KvCache | undefined): void {
  cache?.keys.concat(cache.values).forEach((tensor) => tensor.dispose());
}

/** Runs the whole (left-padded) sequence so far; keeps its KV cache when decoding continues from it. */
async function wholeSequenceLogits(model: LlamaModel, state: DecodingState, keepCache: boolean): Promise<Float32Array> {
  const { prompt } = state;
  const B = state.batchRows.length;
  const length = sequenceLength(state);
  const ids = new Int32Array(B * length);
  state.batchRows.forEach((row, b) => {
    ids.set(prompt.ids.subarray(b * prompt.length, (b + 1) * prompt.length), b * length);
    const generated = generatedTail(state.rows[row]!.ids, length - prompt.length, model.config.padTokenId);
    ids.set(generated, b * length + prompt.length);
  });
  const input = {
    batchSize: B,
    length,
    ids,
    positions: Int32Array.from(state.positions),
    keyMask: Int32Array.from(state.keyMask),
  };
  const result = tf.tidy(() => {
    const out = model.decode(input, state.context, { returnCache: keepCache, cacheCapacity: state.cacheCapacity });
    return { hidden: out.hidden, keys: [...(out.cache?.keys ?? [])], values: [...(out.cache?.values ?? [])] };
  });
  if (keepCache) state.cache = { keys: result.keys, values: result.values, length };
  try {
    return await lastPositionLogits(model, result.hidden);
  } finally {
    result.hidden.dispose();
  }
}

/**
 * The prompt's pass, with its KV cache kept, run once per distinct prompt: rows with the same prompt (a doc's several
 * samples) are given its logits and a copy of its cache, where the pass would have computed them again.
 */
async function promptLogits(
  model: LlamaModel,
  state: DecodingState,
  prompts: readonly (readonly number[])[],
): Promise<Float32Array> {
  // source[b]: the distinct prompt row b has; firsts[d]: the first row with distinct prompt d.
  const distinctOf = new Map<string, number>();
  const firsts: number[] = [];
  const source = prompts.map((ids, b) => {
    const key = ids.join(',');
    if (!distinctOf.has(key)) distinctOf.set(key, firsts.push(b) - 1);
    return distinctOf.get(key)!;
  });
  if (firsts.length === prompts.length) return wholeSequenceLogits(model, state, true);
  const distinct: DecodingState = { ...state, ...batchTables(state, firsts), batchRows: firsts };
  let logits: Float32Array;
  try {
    logits = await wholeSequenceLogits(model, distinct, true);
    state.cache = cacheRows(distinct.cache!, source);
  } finally {
    disposeCache(distinct.cache);
  }
  const vocab = logits.length / firsts.length;
  const rows = new Float32Array(prompts.length * vocab);
  source.forEach((d, b) => rows.set(logits.subarray(d * vocab, (d + 1) * vocab), b * vocab));
  return rows;
}

/**
 * The prompt, key mask and position tables of the given batch rows (as the batch holds them now), in that order: a
 * batch of those rows alone.
 */
function batchTables(
  state: DecodingState,
  batchIndices: readonly number[],
): Pick<DecodingState, 'prompt' | 'keyMask' | 'positions'> {
  const pick = (table: ArrayLike<number>, width: number) =>
    batchIndices.flatMap((b) => Array.from({ length: width }, (_, t) => table[b * width + t]!));
  const { prompt } = state;
  const length = sequenceLength(state);
  return {
    prompt: {
      batchSize: batchIndices.length,
      length: prompt.length,
      ids: Int32Array.from(pick(prompt.ids, prompt.length)),
      mask: Int32Array.from(pick(prompt.mask, prompt.length)),
    },
    keyMask: pick(state.keyMask, length),
    positions: pick(state.positions, length),
  };
}

/**
 * A KV cache of the given batch rows of `cache`, in that order (a row may repeat). `tf.gather` along the batch keeps
 * each tensor's positions, so on webgpu the copy keeps the cache's room and later steps write into it in place.
 */
function cacheRows(cache: KvCache, batchIndices: readonly number[]): KvCache {
  return tf.tidy(() => {
    const index = tf.tensor1d(Int32Array.from(batchIndices), 'int32');
    const copies = (tensors: readonly Tensor3D[]) => tensors.map((t) => tf.gather(t, index) as Tensor3D);
    return { keys: copies(cache.keys), values: copies(cache.values), length: cache.length };
  });
}

/**
 * Once at most half the batch is still decoding, takes the stopped rows out of it, and their KV cache rows: a step's
 * work then follows the rows still decoding, not the longest one. Each row's tokens are what they would be in the full
 * batch (rows never see each other). Each drop copies every layer's cache, which at every stop cost more than it saved
 * (on wasm); halving bounds the copies to log₂ of the batch.
 */
function dropFinishedRows(state: DecodingState): void {
  const kept = state.batchRows.flatMap((row, b) => (state.rows[row]!.done ? [] : [b]));
  if (kept.length > state.batchRows.length / 2) return;
  Object.assign(state, batchTables(state, kept));
  state.batchRows = kept.map((b) => state.batchRows[b]!);
  const cache = state.cache;
  if (cache === undefined) return;
  state.cache = kept.length === 0 ? undefined : cacheRows(cache, kept);
  disposeCache(cache);
}

/** Runs each row's newest token against the KV cache, which it replaces with the extended one (on webgpu, itself). */
async function cachedStepLogits(model: LlamaModel, state: DecodingState): Promise<Float32Array> {
  const B = state.batchRows.length;
  const input = {
    batchSize: B,
    length: 1,
    ids: Int32Array.from(state.batchRows.map((row) => state.rows[row]!.ids.at(-1) ?? model.config.padTokenId)),
    positions: Int32Array.from(positionsOfLast(state.positions, B)),
    keyMask: Int32Array.from(state.keyMask),
  };
  const previous = state.cache!;
  const result = tf.tidy(() => {
    const out = model.decode(input, state.context, {
      past: previous,
      returnCache: true,
      cacheCapacity: state.cacheCapacity,
    });
    return { hidden: out.hidden, keys: [...out.cache!.keys], values: [...out.cache!.values] };
  });
  disposeCache(previous);
  state.cache = { keys: result.keys, values: result.values, length: previous.length + 1 };
  try {
    return await lastPositionLogits(model, result.hidden);
  } finally {
    result.hidden.dispose();
  }
}

/** Extends each batch row's key mask and positions by the token just chosen. */
function extendByOneToken(state: DecodingState): void {
  const B = state.batchRows.length;
  const length = sequenceLength(state);
  const nextMask: number[] = [];
  const nextPositions: number[] = [];
  for (let b = 0; b < B; b++) {
    nextMask.push(...state.keyMask.slice(b * length, (b + 1) * length), 1);
    const rowPositions = state.positions.slice(b * length, (b + 1) * length);
    nextPositions.push(...rowPositions, rowPositions[length - 1]! + 1);
  }
  state.keyMask = nextMask;
  state.positions = nextPositions;
}

/** Positions each batch row holds so far (the prompt's and the tokens run): the key mask's width. */
function sequenceLength(state: DecodingState): number {
  return state.keyMask.length / state.batchRows.length;
}

/** A row's generated ids padded at the end to `length` (a stopped row still in the batch holds padding afterwards). */
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
