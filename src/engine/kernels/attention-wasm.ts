/**
 * Running the WebAssembly SIMD attention kernels (assembly/attention.ts): operands are copied into the kernels' own
 * memory (wasm-kernels.ts); results are views of that memory, which the caller copies once, straight into its own
 * tensors. The copies are linear in the sequence length while the work is quadratic.
 */
import { place, view, write } from './wasm-kernels.js';
import type { HashedDropout } from '../dropout-bits.js';

/**
 * The geometry of one attention call; see assembly/attention.ts for the layout (q and the output [batch, queries,
 * heads·headDim], k and v [batch, keys, kvHeads·headDim]).
 */
export interface AttentionGeometry {
  /** Batch rows × key-value heads. */
  readonly entries: number;
  /** Query rows per entry: query heads per key-value head × queries. */
  readonly rows: number;
  /** Keys per entry (past ones included). */
  readonly keys: number;
  readonly headDim: number;
  /** New query positions per row. */
  readonly queries: number;
  /** Key-value heads per batch row. */
  readonly kvHeads: number;
  readonly scale: number;
  /** The last key a row's first query sees (causal-attention.ts's attentionReach). */
  readonly reach: number;
  /** Dropout of the probabilities, by the mask of a [batch, heads, queries, keys] tensor; undefined: none. */
  readonly dropout: HashedDropout | undefined;
}

function common(g: AttentionGeometry): number[] {
  // Query i of a row sees keys up to offset + i: keys − queries causally, every key (keys − 1) for an encoder.
  const drop = g.dropout === undefined ? [0, 0, 0] : [g.dropout.key | 0, g.dropout.threshold | 0, g.dropout.scale];
  return [g.entries, g.rows, g.keys, g.headDim, g.queries, g.reach, g.kvHeads, g.scale, ...drop];
}

/**
 * Floats of the kernels' scratch: a transposed [headDim, keys rounded up to 8] matrix, a row over the keys (the
 * additive mask), a block of four such rows (scores of four queries), and the slot of per-block numbers (laid out in
 * assembly/attention.ts above `forward`).
 */
function scratch(g: AttentionGeometry): { matrix: number; row: number; block: number; slot: number } {
  const row = Math.ceil(g.keys / 8) * 8;
  return { matrix: g.headDim * row, row, block: 4 * row, slot: 80 };
}

/**
 * Attention output (q's layout) and each row's log-sum-exp of scores [entries, rows], as views of the kernels' memory:
 * copy them before the next call.
 */
export function attentionForward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  keyMask: Int32Array,
  g: AttentionGeometry,
): { out: Float32Array; lse: Float32Array } {
  const rowsTotal = g.entries * g.rows;
  const { matrix, row, block, slot } = scratch(g);
  const inputs = [q, k, v, keyMask];
  const { exports, offsets } = place([
    ...inputs.map((x) => x.length),
    q.length,
    rowsTotal,
    matrix,
    matrix,
    row,
    block,
    slot,
  ]);
  inputs.forEach((values, i) => write(exports, offsets[i]!, values));
  const [outAt, lseAt] = offsets.slice(4) as [number, number];
  exports.forward(...offsets, ...common(g));
  return { out: view(exports, outAt, q.length), lse: view(exports, lseAt, rowsTotal) };
}

/**
 * Gradients of attentionForward with respect to q, k and v, given the output's gradient, as views of the kernels'
 * memory: copy them before the next call.
 */
export function attentionBackward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  keyMask: Int32Array,
  out: Float32Array,
  lse: Float32Array,
  dOut: Float32Array,
  g: AttentionGeometry,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { matrix, row, block, slot } = scratch(g);
  const inputs = [q, k, v, keyMask, out, lse, dOut];
  const gradients = [q.length, k.length, v.length];
  // kT, vT, dkT, dvT; the additive mask; scores, dS and the dropout mask of a block of rows; the slot.
  const scratchLengths = [matrix, matrix, matrix, matrix, row, block, block, block, slot];
  const { exports, offsets } = place([...inputs.map((x) => x.length), ...gradients, ...scratchLengths]);
  inputs.forEach((values, i) => write(exports, offsets[i]!, values));
  const [dqAt, dkAt, dvAt] = offsets.slice(inputs.length) as [number, number, number];
  exports.backward(...offsets, ...common(g));
  return { dq: view(exports, dqAt, q.length), dk: view(exports, dkAt, k.length), dv: view(exports, dvAt, v.length) };
}
