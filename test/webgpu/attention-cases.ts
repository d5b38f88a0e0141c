/** The attention kernels' test cases on webgpu against wasm: their inputs from a seed, and what is compared. */
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backends.js';
import { Rng } from '../../src/engine/rng.js';
import { tf, type Tensor, type Tensor3D } from '../../src/engine/tf.js';
import { AttentionMask, type AttentionHeads } from '../../src/models/layers/causal-attention.js';
import { webGpuAdapterReport } from '../../src/engine/webgpu.js';
import { subgroupFloor } from '../../src/engine/kernels/webgpu/attention-lanes.js';

export interface AttentionCase {
  readonly batch: number;
  readonly queries: number;
  readonly keys: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Padding keys at the start of each batch row (keys for a row with none real). */
  readonly padding: readonly number[];
  /** MCEVAL_WEBGPU_ATTENTION_LANES for the webgpu run; by head size when absent. */
  readonly lanes?: string;
  /** Bidirectional (an encoder), its padding at the end of each row. */
  readonly encoder?: boolean;
  /** Probabilities dropped by the same hashed mask on both backends. */
  readonly dropout?: boolean;
}

export interface AttentionInputs {
  readonly q: Tensor3D;
  readonly k: Tensor3D;
  readonly v: Tensor3D;
  /** The output's gradient. */
  readonly dy: Tensor3D;
  readonly mask: AttentionMask;
  readonly heads: AttentionHeads;
}

/** A case's q, k, v and dy drawn from `rng` in that order, its key mask and heads. */
export function attentionInputs(c: AttentionCase, rng: Rng): AttentionInputs {
  const qShape: [number, number, number] = [c.batch, c.queries, c.heads * c.headDim];
  const kvShape: [number, number, number] = [c.batch, c.keys, c.kvHeads * c.headDim];
  const drawn = (shape: [number, number, number]) =>
    tf.tensor3d(rng.normalArray(shape[0] * shape[1] * shape[2]), shape);
  const [q, k, v, dy] = [drawn(qShape), drawn(kvShape), drawn(kvShape), drawn(qShape)];
  const keyMask = new Int32Array(c.batch * c.keys);
  c.padding.forEach((pad, b) =>
    c.encoder === true
      ? keyMask.fill(1, b * c.keys, (b + 1) * c.keys - pad)
      : keyMask.fill(1, b * c.keys + pad, (b + 1) * c.keys),
  );
  const mask = new AttentionMask(keyMask, c.batch, c.queries, c.keys, c.encoder !== true);
  return { q: q!, k: k!, v: v!, dy: dy!, mask, heads: { query: c.heads, keyValue: c.kvHeads } };
}

/**
 * The output of `attend` and, with `gradients`, the gradients of Σ output·dy in q, k and v, read; every tensor made for
 * them, and the inputs, freed.
 */
export async function outputAndGradients(
  attend: (q: Tensor3D, k: Tensor3D, v: Tensor3D) => Tensor3D,
  { q, k, v, dy }: AttentionInputs,
  gradients = true,
): Promise<number[][]> {
  const { value, grads } = gradients
    ? tf.valueAndGrads((...inputs: Tensor[]) => {
        const [qi, ki, vi] = inputs as Tensor3D[];
        return tf.sum(tf.mul(attend(qi!, ki!, vi!), dy));
      })([q, k, v])
    : { value: undefined, grads: [] };
  const out = tf.tidy(() => attend(q, k, v));
  const arrays = await Promise.all([out, ...grads].map((t) => t.data()));
  tf.dispose([q, k, v, dy, out, ...grads, ...(value === undefined ? [] : [value])]);
  return arrays.map((array) => Array.from(array as Float32Array));
}

/**
 * Why a case cannot run on this adapter, if it cannot: lanes share a row through subgroup shuffles, so more than one
 * needs an adapter with subgroups at least that large (Dawn's OpenGL ES backend has none; mceval refuses the setting
 * there with one line).
 */
export async function lanesUnavailable(c: AttentionCase): Promise<string | undefined> {
  await initEngine('webgpu');
  if (c.lanes === undefined || Number(c.lanes) <= subgroupFloor(webGpuAdapterReport())) return undefined;
  return `${c.lanes} lanes need subgroups of at least that size, which this adapter lacks`;
}

/** dq, dk and dv of two runs (outputAndGradients') the same, value for value (−0 and 0 apart). */
export function assertSameGradients(together: readonly number[][], apart: readonly number[][]): void {
  ['dq', 'dk', 'dv'].forEach((label, i) => assert.deepStrictEqual(together[i + 1], apart[i + 1], label));
}
