/**
 * Batched text generation with a decoder: prompts are left-padded with positions counted from each row's first real
 * token; each step appends one token per row, reusing the KV cache (or, with `useCache: false`, re-running the whole
 * sequence, kept for benchmarks and as a reference). Stops per row at EOS, a stop sequence, or maxNewTokens; once half
 * the batch has stopped, the stopped rows leave it (their KV cache rows with them), so later steps run fewer rows.
 * With a `batchSize` under the prompts' count, the batch holds that many rows at most and takes in waiting prompts as
 * rows leave it (continuous batching): their prompt pass runs on its own and their cache joins the batch's.
 */
import { tf, type Tensor, type Tensor3D } from '../engine/tf.js';
import { readAndDispose } from '../engine/host-reads.js';
import { Rng } from '../engine/rng.js';
import { EVAL_CONTEXT, withEvaluationContext, type ForwardContext } from '../models/forward-context.js';
import type { KvCache, LlamaModel } from '../models/llama/model.js';
import { padBatch, positionIds, type PaddedBatch } from '../models/tokenizers/padding.js';
import type { TextTokenizer } from '../models/tokenizers/tokenizer.js';
import { logSoftmax } from '../metrics/log-softmax.js';
import { chooseToken, GREEDY, type SamplingOptions } from './sampling.js';
import { cutAtStopSequence } from './stop-sequences.js';
import { cachesKeepRoom } from '../models/layers/rope.js';
import { takeRows } from '../engine/ops/take-rows.js';
import { generationJoin, type GenerationJoin } from '../engine/generation-join.js';

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
  /**
   * Rows decoded at once (default: every prompt). Prompts past it wait, in the order given, and join the batch as its
   * rows stop: see `join`.
   */
  readonly batchSize?: number;
  /**
   * When waiting prompts join the batch (default: MCEVAL_GENERATION_JOIN's, engine/generation-join.ts): `under-way`, once
   * a quarter of its rows are free, beside the rows still decoding; `emptied`, once all are. Without the KV cache, or
   * under a soft prompt (whose positions count the padding before a row), always `emptied`.
   */
  readonly join?: GenerationJoin;
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
  return (await readAndDispose(logits)) as Float32Array;
}

interface RowState {
  ids: number[];
  logprobs: number[];
  text: string;
  /** Tokens chosen so far, EOS included: the row stops at maxNewTokens. */
  chosen: number;
  done: boolean;
  reason: StopReason;
}

/**
 * Where decoding stands for the batch (the rows decoding now): their key masks and positions, and the KV cache. Every
 * column of the tables but the last is in the cache; the last holds each row's newest token, chosen and not yet run.
 */
interface DecodingState {
  /**
   * The batch rows' prompts, left-padded, where the rows were taken in together: what re-running the whole sequence
   * reads. Absent once rows taken in at different steps share the batch (decoding then runs on the cache alone).
   */
  prompt?: PaddedBatch;
  /** The batch: batch row i is prompt batchRows[i]. */
  batchRows: number[];
  keyMask: number[];
  positions: number[];
  cache?: KvCache;
  /** Positions the cache is made to hold: those it holds and those of every token a later step runs. */
  cacheCapacity: number;
}

/** The batch a generate call decodes, replaced as rows join it. */
interface Batch {
  state: DecodingState;
}

/** What stays the same through a generate call: the model, the prompts, every row's output so far, the settings. */
interface Decoding {
  readonly model: LlamaModel;
  readonly tokenizer: TextTokenizer;
  /** The decoding passes' context: what their weights derive made once for the call. */
  readonly context: ForwardContext;
  readonly prompts: readonly (readonly number[])[];
  /** Every row, in the prompts' order. */
  readonly rows: RowState[];
  /** The prompts not yet taken into the batch, in the order they will be. */
  readonly waiting: number[];
  readonly batchSize: number;
  /** Whether waiting prompts may join a batch still decoding (else only an emptied one). */
  readonly joinUnderWay: boolean;
  readonly maxNewTokens: number;
  readonly useCache: boolean;
  readonly sampling: SamplingOptions;
  readonly rngs: readonly Rng[];
  readonly eos: ReadonlySet<number>;
  readonly stops: readonly string[];
  /** Decoded once: every step's stop-sequence check needs the text the new tokens add to it. */
  readonly promptTexts: readonly string[];
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
  if (options.streams !== undefined && options.streams.length !== prompts.length)
    throw new Error(`generate: ${options.streams.length} sampling streams for ${prompts.length} prompts`);
  const batchSize = options.batchSize ?? Math.max(prompts.length, 1);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`generate: batchSize must be a whole number of rows, 1 or more (got ${batchSize})`);
  const seeded = new Rng(options.seed ?? 0);
  const useCache = options.useCache ?? true;
  const decoding: Decoding = {
    model,
    tokenizer,
    context,
    prompts,
    rows: prompts.map(() => ({ ids: [], logprobs: [], text: '', chosen: 0, done: false, reason: 'max-new-tokens' })),
    waiting: prompts.map((_, i) => i),
    batchSize,
    // A soft prompt's positions count the padding before a row's tokens, which joining a batch would change.
    joinUnderWay:
      (options.join ?? generationJoin()) === 'under-way' && useCache && model.promptEmbeddings === undefined,
    maxNewTokens: options.maxNewTokens,
    useCache,
    sampling: options.sampling ?? GREEDY,
    rngs: prompts.map((_, b) => seeded.fork(`stream ${options.streams?.[b] ?? b}`)),
    eos: new Set(options.eosTokenIds ?? [tokenizer.eosId]),
    stops: options.stopSequences ?? [],
    promptTexts: prompts.map((ids) => tokenizer.decode(ids)),
  };
  // The batch as it stands, so that its cache is freed whatever stops the generation.
  const batch: Batch = { state: { batchRows: [], keyMask: [], positions: [], cacheCapacity: 0 } };
  try {
    if (prompts.length > 0 && options.maxNewTokens > 0) {
      // The first prompts' pass is the first step.
      await refillOrShrink(decoding, batch);
      for (let step = 1; ; step++) {
        options.onStep?.(step);
        if (batch.state.batchRows.length === 0) break;
        await decodeStep(decoding, batch.state);
        await refillOrShrink(decoding, batch);
      }
    }
  } finally {
    disposeCache(batch.state.cache);
  }
  return decoding.rows.map((row, i) => ({
    ids: row.ids,
    logprobs: row.logprobs,
    text:
      row.reason === 'stop-sequence'
        ? row.text
        : continuationText(tokenizer, prompts[i]!, row.ids, decoding.promptTexts[i]),
    stopReason: row.reason,
  }));
}

function disposeCache(cache: KvCache | undefined): void {
  cache?.keys.concat(cache.values).forEach((tensor) => tensor.dispose());
}

/**
 * Makes the batch what the next step runs. Waiting prompts join it where rows are free: into an emptied batch, or,
 * where rows may join one under way, once a quarter of its rows are free (each joining runs a prompt pass and copies
 * every layer's cache; joining at every stop would cost more steps than it saves). Otherwise, once at most half the
 * batch is still decoding, the stopped rows leave it.
 */
async function refillOrShrink(decoding: Decoding, batch: Batch): Promise<void> {
  for (;;) {
    const state = batch.state;
    const kept = decodingRows(decoding, state);
    const free = decoding.batchSize - kept.length;
    const underWay = kept.length > 0;
    const joins =
      decoding.waiting.length > 0 && (!underWay || (decoding.joinUnderWay && free >= decoding.batchSize / 4));
    if (!joins) {
      if (kept.length <= state.batchRows.length / 2) dropFinishedRows(state, kept);
      return;
    }
    const joining = await takeIn(decoding, nextWaiting(decoding, free, underWay), underWay);
    if (!underWay) {
      disposeCache(state.cache);
      batch.state = joining;
      continue;
    }
    try {
      const stillDecoding = decodingRows(decoding, joining);
      // Rows that stopped at their first token (EOS) need no place in the batch.
      if (stillDecoding.length > 0) batch.state = joinedBatch(decoding, [state, kept], [joining, stillDecoding]);
    } finally {
      disposeCache(joining.cache);
    }
  }
}

/**
 * Takes the next waiting prompts, `free` of them at most. Joining a batch under way, it stops before a run of equal
 * prompts (a doc's samples) that it would cut, where it can take any before it: the run's prompt pass then runs once.
 */
function nextWaiting(decoding: Decoding, free: number, underWay: boolean): number[] {
  const { waiting, prompts } = decoding;
  let take = Math.min(free, waiting.length);
  if (underWay && take < waiting.length) {
    const key = (at: number) => promptKey(prompts[waiting[at]!]!);
    let end = take;
    while (end > 0 && key(end - 1) === key(end)) end--;
    if (end > 0) take = end;
  }
  return waiting.splice(0, take);
}

/** The batch rows (their indices in it) still decoding. */
function decodingRows(decoding: Decoding, state: DecodingState): number[] {
  return state.batchRows.flatMap((row, b) => (decoding.rows[row]!.done ? [] : [b]));
}

/**
 * A batch of the given prompts, their prompt pass run and each row's first token chosen. Its cache is made with room
 * for the whole generation, or, where it joins a batch under way (whose cache is made anew), for the prompts alone.
 */
async function takeIn(decoding: Decoding, promptIndices: readonly number[], joining: boolean): Promise<DecodingState> {
  const prompts = promptIndices.map((i) => decoding.prompts[i]!);
  const prompt = padBatch(prompts, decoding.model.config.padTokenId, { side: 'left' });
  const state: DecodingState = {
    prompt,
    batchRows: [...promptIndices],
    keyMask: Array.from(prompt.mask),
    positions: Array.from(positionIds(prompt)),
    // The last new token is chosen, never run.
    cacheCapacity: prompt.length + (joining ? 0 : decoding.maxNewTokens - 1),
  };
  try {
    const logits = decoding.useCache
      ? await promptLogits(decoding, state, prompts)
      : await wholeSequenceLogits(decoding, state, false);
    chooseTokens(decoding, state, logits);
    return state;
  } catch (error) {
    disposeCache(state.cache);
    throw error;
  }
}

/** Runs each batch row's newest token and chooses the next. */
async function decodeStep(decoding: Decoding, state: DecodingState): Promise<void> {
  const logits = decoding.useCache
    ? await cachedStepLogits(decoding, state)
    : await wholeSequenceLogits(decoding, state, false);
  chooseTokens(decoding, state, logits);
}

/**
 * Chooses each batch row's next token from its logits ([batch, vocab]), stopping rows at EOS, a stop sequence or
 * maxNewTokens, and extends the batch's tables by it. A stopped row stays in the batch (its outputs ignored) until
 * half the batch has stopped.
 */
function chooseTokens(decoding: Decoding, state: DecodingState, logits: Float32Array): void {
  const vocab = decoding.model.config.vocabSize;
  const { tokenizer, prompts } = decoding;
  state.batchRows.forEach((b, i) => {
    const row = decoding.rows[b]!;
    if (row.done) return;
    const rowLogits = logits.subarray(i * vocab, (i + 1) * vocab);
    const token = chooseToken(rowLogits, decoding.sampling, decoding.rngs[b]!);
    row.chosen++;
    if (decoding.eos.has(token)) {
      row.done = true;
      row.reason = 'eos';
      return;
    }
    row.ids.push(token);
    row.logprobs.push(logSoftmax(rowLogits)[token]!);
    const text = continuationText(tokenizer, prompts[b]!, row.ids, decoding.promptTexts[b]);
    const cut = cutAtStopSequence(text, decoding.stops);
    row.text = cut.text;
    if (cut.stopped) {
      row.done = true;
      row.reason = 'stop-sequence';
    } else if (row.chosen === decoding.maxNewTokens) row.done = true; // reason stays 'max-new-tokens'
  });
  extendByOneToken(state);
}

/** Runs the whole (left-padded) sequence so far; keeps its KV cache when decoding continues from it. */
async function wholeSequenceLogits(
  decoding: Decoding,
  state: DecodingState,
  keepCache: boolean,
): Promise<Float32Array> {
  const { model } = decoding;
  const prompt = state.prompt;
  if (prompt === undefined) throw new Error('generate: a batch whose rows joined at different steps has no prompts');
  const B = state.batchRows.length;
  const length = sequenceLength(state);
  const ids = new Int32Array(B * length);
  state.batchRows.forEach((row, b) => {
    ids.set(prompt.ids.subarray(b * prompt.length, (b + 1) * prompt.length), b * length);
    const generated = generatedTail(decoding.rows[row]!.ids, length - prompt.length, model.config.padTokenId);
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
    const out = model.decode(input, decoding.context, {
      returnCache: keepCache,
      cacheCapacity: state.cacheCapacity,
    });
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
 * samples) are given its logits and a copy of its cache, where the pass would have computed them again. `prompts` are
 * the batch rows'.
 */
async function promptLogits(
  decoding: Decoding,
  state: DecodingState,
  prompts: readonly (readonly number[])[],
): Promise<Float32Array> {
  // source[b]: the distinct prompt batch row b has; firsts[d]: the first batch row with distinct prompt d.
  const distinctOf = new Map<string, number>();
  const firsts: number[] = [];
  const source = prompts.map((ids, b) => {
    const key = promptKey(ids);
    if (!distinctOf.has(key)) distinctOf.set(key, firsts.push(b) - 1);
    return distinctOf.get(key)!;
  });
  if (firsts.length === prompts.length) return wholeSequenceLogits(decoding, state, true);
  const distinct: DecodingState = {
    ...state,
    ...batchTables(state, firsts),
    batchRows: firsts.map((b) => state.batchRows[b]!),
  };
  let logits: Float32Array;
  try {
    logits = await wholeSequenceLogits(decoding, distinct, true);
    state.cache = cacheRows(distinct.cache!, source);
  } finally {
    disposeCache(distinct.cache);
  }
  const vocab = logits.length / firsts.length;
  const rows = new Float32Array(prompts.length * vocab);
  source.forEach((d, b) => rows.set(logits.subarray(d * vocab, (d + 1) * vocab), b * vocab));
  return rows;
}

/** A prompt's ids as a key: equal prompts, equal keys. */
function promptKey(ids: readonly number[]): string {
  return ids.join(',');
}

/**
 * The prompt (where the batch has one), key mask and position tables of the given batch rows (as the batch holds them
 * now), in that order: a batch of those rows alone.
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
    prompt:
      prompt === undefined
        ? undefined
        : {
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
 * A KV cache of the given batch rows of `cache`, in that order (a row may repeat). Each row keeps all its positions,
 * so on webgpu the copy keeps the cache's room and later steps write into it in place.
 */
function cacheRows(cache: KvCache, batchIndices: readonly number[]): KvCache {
  return tf.tidy(() => {
    const positions = cache.keys[0]!.shape[1];
    const index = Int32Array.from(
      batchIndices.flatMap((b) => Array.from({ length: positions }, (_, p) => b * positions + p)),
    );
    const copies = (tensors: readonly Tensor3D[]) => tensors.map((t) => cachePositions(t, index, batchIndices.length));
    return { keys: copies(cache.keys), values: copies(cache.values), length: cache.length };
  });
}

/**
 * Positions of a cache tensor ([batch, positions, width]) by their flat index (batch row · positions + position), as
 * `rows` rows of as many positions each.
 */
function cachePositions(t: Tensor3D, index: Int32Array, rows: number): Tensor3D {
  const width = t.shape[2];
  return tf.reshape(takeRows(tf.reshape(t, [-1, width]), index), [rows, index.length / rows, width]) as Tensor3D;
}

/**
 * Takes the batch rows not `kept` out of it, and their KV cache rows: a step's work then follows the rows still
 * decoding, not the longest one. Each row's tokens are what they would be in the full batch (rows never see each
 * other). Each drop copies every layer's cache, which at every stop cost more than it saved (on wasm); dropping only
 * once at most half the batch is still decoding bounds the copies to log₂ of the batch.
 */
function dropFinishedRows(state: DecodingState, kept: readonly number[]): void {
  if (kept.length === state.batchRows.length) return;
  Object.assign(state, batchTables(state, kept));
  state.batchRows = kept.map((b) => state.batchRows[b]!);
  const cache = state.cache;
  if (cache === undefined) return;
  state.cache = kept.length === 0 ? undefined : cacheRows(cache, kept);
  disposeCache(cache);
}

/** Some rows of a batch: the batch, and the indices in it of the rows. */
type BatchRows = readonly [DecodingState, readonly number[]];

/**
 * One batch of the rows of two: `joining`'s rows, their first tokens chosen, after `running`'s. Each part's tables
 * and caches lose the columns none of its rows holds a token in (a shrunk batch's padding), then the narrower part is
 * left-padded to the wider, its new columns masked: a row's keys, values and positions stay its own, so its tokens are
 * what they would be in a batch of its own. Each layer's keys and values are gathered into the joined cache in one
 * pass per part, made where steps write into their cache (webgpu) with room for the rows' remaining tokens.
 */
function joinedBatch(decoding: Decoding, running: BatchRows, joining: BatchRows): DecodingState {
  const parts = [running, joining].map(([state, rows]) => ({ state, rows, ...trimmedRows(state, rows) }));
  const width = Math.max(...parts.map((part) => part.width));
  const padded = (table: readonly number[][], partWidth: number) =>
    table.flatMap((row) => [...new Array<number>(width - partWidth).fill(0), ...row]);
  const batchRows = parts.flatMap(({ state, rows }) => rows.map((b) => state.batchRows[b]!));
  const fewestChosen = Math.min(...batchRows.map((row) => decoding.rows[row]!.chosen));
  // The positions held, and those of every token still to run: the pending one and all but the last one chosen.
  const capacity = width - 1 + decoding.maxNewTokens - fewestChosen;
  const columns = cachesKeepRoom() ? capacity : width - 1;
  const cache = tf.tidy(() => {
    // Each joined position's flat index in its part's cache (cachePositions). Padding (masked: any finite key and
    // value will do) and room take the part's first held position.
    const sources = parts.map(({ state, rows, cut, width: partWidth }) => {
      const stride = state.cache!.keys[0]!.shape[1]!;
      const pad = width - partWidth;
      const index = new Int32Array(rows.length * columns);
      rows.forEach((b, i) => {
        for (let c = 0; c < columns; c++) {
          const held = c - pad;
          index[i * columns + c] = b * stride + cut + (held >= 0 && held < partWidth - 1 ? held : 0);
        }
      });
      return { cache: state.cache!, index, rows: rows.length };
    });
    const joined = (take: (cache: KvCache) => readonly Tensor3D[], i: number) =>
      tf.concat(
        sources.map((source) => cachePositions(take(source.cache)[i]!, source.index, source.rows)),
        0,
      ) as Tensor3D;
    const layers = running[0].cache!.keys.map((_, i) => i);
    return {
      keys: layers.map((i) => joined((cache) => cache.keys, i)),
      values: layers.map((i) => joined((cache) => cache.values, i)),
      length: width - 1,
    };
  });
  disposeCache(running[0].cache);
  return {
    batchRows,
    keyMask: parts.flatMap((part) => padded(part.keyMask, part.width)),
    positions: parts.flatMap((part) => padded(part.positions, part.width)),
    cache,
    cacheCapacity: capacity,
  };
}

/** The given rows' key masks and positions from the first column any of them holds a token in (`cut`). */
function trimmedRows(
  state: DecodingState,
  rows: readonly number[],
): { cut: number; width: number; keyMask: number[][]; positions: number[][] } {
  const length = sequenceLength(state);
  const firstToken = (b: number) => state.keyMask.slice(b * length, (b + 1) * length).indexOf(1);
  // At least one cached column is kept, so that no part of the cache is empty.
  const cut = Math.min(...rows.map(firstToken), length - 2);
  const from = (table: readonly number[]) => rows.map((b) => table.slice(b * length + cut, (b + 1) * length));
  return { cut, width: length - cut, keyMask: from(state.keyMask), positions: from(state.positions) };
}

/** Runs each row's newest token against the KV cache, which it replaces with the extended one (on webgpu, itself). */
async function cachedStepLogits(decoding: Decoding, state: DecodingState): Promise<Float32Array> {
  const { model } = decoding;
  const B = state.batchRows.length;
  const input = {
    batchSize: B,
    length: 1,
    ids: Int32Array.from(state.batchRows.map((row) => decoding.rows[row]!.ids.at(-1) ?? model.config.padTokenId)),
    positions: Int32Array.from(positionsOfLast(state.positions, B)),
    keyMask: Int32Array.from(state.keyMask),
  };
  const previous = state.cache!;
  const result = tf.tidy(() => {
    const out = model.decode(input, decoding.context, {
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
