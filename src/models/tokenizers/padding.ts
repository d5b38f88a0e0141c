/** Turns token sequences of different lengths into one rectangular batch, as the model consumes it. */

export interface PaddedBatch {
  readonly batchSize: number;
  readonly length: number;
  /** Row-major [batchSize, length] token ids. */
  readonly ids: Int32Array;
  /** Row-major [batchSize, length]: 1 for a real token, 0 for padding. */
  readonly mask: Int32Array;
}

/** A padded batch with, for an encoder's sentence pairs, token type ids ([batch, length]). */
export interface TypedBatch extends PaddedBatch {
  readonly tokenTypeIds?: Int32Array;
}

/** One encoded input: token ids and, for an encoder's sentence pair, each token's segment. */
export interface EncodedInput {
  readonly ids: readonly number[];
  readonly tokenTypeIds?: readonly number[];
}

/** How far a batch pads: to its longest row, rounded up to a multiple (transformers' `pad_to_multiple_of`). */
export interface PaddingRule {
  /** The batch's length is rounded up to a multiple of this (1: its longest row). */
  readonly multipleOf: number;
  /** Rounding stops at this length (the model's positions); a longer row still sets the length. */
  readonly limit?: number;
}

/**
 * The length a batch whose longest row has `longest` tokens pads to under `rule`: the next multiple, but not past the
 * rule's limit (nor shorter than `longest`).
 */
export function paddedLength(longest: number, rule: PaddingRule): number {
  const rounded = Math.ceil(longest / rule.multipleOf) * rule.multipleOf;
  return Math.max(longest, Math.min(rounded, rule.limit ?? rounded));
}

/**
 * Training and classification inputs padded on the right (where neither a decoder's last-token head nor an
 * encoder's absolute positions move), token types padded with 0 when the rows have them.
 */
export function padInputs(rows: readonly EncodedInput[], padId: number, rule?: PaddingRule): TypedBatch {
  const batch = padBatch(
    rows.map((row) => row.ids),
    padId,
    { rule },
  );
  if (!rows.some((row) => row.tokenTypeIds !== undefined)) return batch;
  const types = padBatch(
    rows.map((row) => row.tokenTypeIds ?? new Array<number>(row.ids.length).fill(0)),
    0,
    { rule },
  );
  return { ...batch, tokenTypeIds: types.ids };
}

/**
 * The order to batch sequences of these lengths in: longest first, ties in their given order (lm-eval's order for its
 * requests). Neighbours then have about the same length, so a batch pads little, and the longest batch runs first: a
 * batch too large for memory fails at once, not at the end.
 */
export function longestFirst(lengths: readonly number[]): number[] {
  return lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
}

/** One batch of `longestFirstBatches`: its items, and each item's index in the list they came from. */
export interface IndexedBatch<T> {
  readonly indices: readonly number[];
  readonly items: readonly T[];
}

/**
 * `items` cut into batches of at most `size`, taken in `longestFirst` order of their token counts. The indices let a
 * caller put each batch's results back in the items' order.
 */
export function longestFirstBatches<T extends { readonly ids: readonly unknown[] }>(
  items: readonly T[],
  size: number,
): IndexedBatch<T>[] {
  const order = longestFirst(items.map((item) => item.ids.length));
  const batches: IndexedBatch<T>[] = [];
  for (let start = 0; start < order.length; start += size) {
    const indices = order.slice(start, start + size);
    batches.push({ indices, items: indices.map((index) => items[index]!) });
  }
  return batches;
}

export function padBatch(
  sequences: readonly (readonly number[])[],
  padId: number,
  options: { side?: 'left' | 'right'; maxLength?: number; rule?: PaddingRule | undefined } = {},
): PaddedBatch {
  const side = options.side ?? 'right';
  // Truncation keeps the start of each sequence (the BOS token and the text's beginning), as transformers does by default.
  const rows = sequences.map((sequence) =>
    options.maxLength !== undefined ? sequence.slice(0, options.maxLength) : sequence,
  );
  const longest = Math.max(1, ...rows.map((row) => row.length));
  const length = options.rule === undefined ? longest : paddedLength(longest, options.rule);
  const ids = new Int32Array(rows.length * length).fill(padId);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((row, b) => {
    const start = b * length + (side === 'left' ? length - row.length : 0);
    for (let t = 0; t < row.length; t++) {
      ids[start + t] = row[t]!;
      mask[start + t] = 1;
    }
  });
  return { batchSize: rows.length, length, ids, mask };
}

/** Index of the last real token of each row: where a decoder's classification head reads. */
export function lastTokenIndices(batch: PaddedBatch): number[] {
  const last: number[] = [];
  for (let b = 0; b < batch.batchSize; b++) {
    let index = 0;
    for (let t = 0; t < batch.length; t++) if (batch.mask[b * batch.length + t] === 1) index = t;
    last.push(index);
  }
  return last;
}

/** Position ids that count only real tokens, so left padding does not shift positions (0 on padding). */
export function positionIds(batch: PaddedBatch): Int32Array {
  const positions = new Int32Array(batch.ids.length);
  for (let b = 0; b < batch.batchSize; b++) {
    let position = 0;
    for (let t = 0; t < batch.length; t++) {
      const i = b * batch.length + t;
      if (batch.mask[i] === 1) positions[i] = position++;
    }
  }
  return positions;
}
