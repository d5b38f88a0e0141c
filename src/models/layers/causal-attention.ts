/**
 * Grouped-query self-attention, softmax(q·kᵀ/√headDim + mask)·v, in the projections' own layout: q
 * [batch, queries, heads·headDim], k and v [batch, keys, kvHeads·headDim] (past keys first; on webgpu a KV cache may
 * have room for later steps after the mask's keys), output like q. Causal for a decoder; bidirectional, padding keys
 * masked, for an encoder (`AttentionMask`'s `causal`).
 *
 * On cpu and wasm it runs mceval's WebAssembly attention kernels (engine/kernels/causal-attention.ts), on webgpu its
 * WGSL ones (engine/kernels/webgpu/): no head transposes, scores never stored, probabilities recomputed in the backward
 * pass, so memory grows linearly with the sequence length. Where no kernel is registered (MCEVAL_WEBGPU_KERNELS=0, or a
 * head size that is not a multiple of 4) it composes transposes, batched matMuls, softmax and an additive bias, which
 * holds [batch, heads, queries, keys].
 *
 * In training, the probabilities may be dropped (an encoder's attention_probs_dropout_prob, a decoder's
 * attention_dropout): the mask is that of a [batch, heads, queries, keys] tensor drawn by engine/ops/dropout.ts, which
 * the composite path multiplies its probabilities by and the kernels make where they use it — the same on each path
 * and backend.
 */
import type { GradSaveFunc, NamedAttrMap } from '@tensorflow/tfjs-core';
import { tf, type Tensor, type Tensor3D } from '../../engine/tf.js';
import { batchMatMul } from '../../engine/ops/batch-matmul.js';
import { tidyGradient, type CustomGradientFunc } from '../../engine/ops/product.js';
import {
  CAUSAL_ATTENTION,
  CAUSAL_ATTENTION_GRAD,
  type CausalAttentionAttrs,
} from '../../engine/kernels/causal-attention.js';
import { attentionBias } from './attention-bias.js';
import { hasKernel } from '../../engine/kernels/has-kernel.js';
import { heldPositions } from './rope.js';
import { keepMask } from '../../engine/ops/dropout.js';
import type { HashedDropout } from '../../engine/dropout-bits.js';

/** Which keys each batch row may attend to, shared by every layer of one forward pass. */
export class AttentionMask {
  private bias?: Tensor;

  /**
   * @param keyMask [batch, keys]: 1 for a real key, 0 for padding.
   * @param queries new query positions per row: the last `queries` of the `keys` positions.
   * @param causal whether a query sees only the keys up to its position (a decoder) or every real key (an encoder).
   * @param ownsBias whether the bias is kept outside the scope it is built in, and freed by `dispose`: for a pass that
   *   runs each layer in a scope of its own (off the tape), where the first layer's scope would free it.
   */
  constructor(
    readonly keyMask: Int32Array,
    readonly batchSize: number,
    readonly queries: number,
    readonly keys: number,
    readonly causal = true,
    private readonly ownsBias = false,
  ) {}

  /** The additive bias [batch, 1, queries, keys] of the composite path, built once per forward pass. */
  additiveBias(): Tensor {
    if (this.bias === undefined) {
      const bias = attentionBias(this.keyMask, this.batchSize, this.queries, this.keys, this.causal);
      this.bias = this.ownsBias ? tf.keep(bias) : bias;
    }
    return this.bias;
  }

  /** Frees the bias where the mask owns it (otherwise the scope it was built in does). */
  dispose(): void {
    if (this.ownsBias) this.bias?.dispose();
    this.bias = undefined;
  }
}

export interface AttentionHeads {
  readonly query: number;
  readonly keyValue: number;
}

/**
 * An attention path: output [batch, queries, heads·headDim] from q, k, v in the projections' layout; `dropout` drops
 * probabilities (training only); `turns`, RoPE's tables (rope.ts's joinedRopeTable), where q and k come before RoPE
 * and the kernels rotate them (webgpu's, where rope.ts's ropeInsideAttention says so).
 */
export type AttentionPath = (
  q: Tensor3D,
  k: Tensor3D,
  v: Tensor3D,
  mask: AttentionMask,
  heads: AttentionHeads,
  dropout?: HashedDropout,
  turns?: Tensor,
) => Tensor3D;

/** The kernels' path (WebAssembly or WGSL), with the gradient from their backward kernel. */
export const fusedAttention: AttentionPath = (q, k, v, mask, heads, dropout, turns) => {
  const headDim = q.shape[2] / heads.query;
  const attributes: CausalAttentionAttrs = {
    keyMask: mask.keyMask,
    heads: heads.query,
    kvHeads: heads.keyValue,
    scale: 1 / Math.sqrt(headDim),
    causal: mask.causal,
    ...(dropout === undefined ? {} : { dropout }),
  };
  const attrs = attributes as unknown as NamedAttrMap;
  const tables: Record<string, Tensor> = turns === undefined ? {} : { turns };
  const attend = tf.customGrad(((qi: Tensor3D, ki: Tensor3D, vi: Tensor3D, save: GradSaveFunc) => {
    const inputs = { q: qi, k: ki, v: vi, ...tables };
    const [out, lse] = tf.engine().runKernel(CAUSAL_ATTENTION, inputs, attrs) as [Tensor, Tensor];
    save([qi, ki, vi, out, lse, ...Object.values(tables)]);
    return {
      value: out,
      gradFunc: tidyGradient((dy: Tensor, saved: Tensor[]) => {
        const [sq, sk, sv, so, sl, st] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | undefined];
        const inputs = { q: sq, k: sk, v: sv, out: so, lse: sl, dy, ...(st === undefined ? {} : { turns: st }) };
        return tf.engine().runKernel(CAUSAL_ATTENTION_GRAD, inputs, attrs) as Tensor[];
      }),
    };
  }) as unknown as CustomGradientFunc) as unknown as (a: Tensor3D, b: Tensor3D, c: Tensor3D) => Tensor3D;
  return attend(q, k, v);
};

/**
 * Composed of tfjs ops, autodiff for the gradient. The query heads sharing a KV head are stacked along the query axis,
 * [B·Hkv, groups·T, dh], so each KV head is used once per product.
 */
export const compositeAttention: AttentionPath = (q, k, v, mask, heads, dropout) => {
  const { batchSize: B, queries: T } = mask;
  const { query: H, keyValue: Hkv } = heads;
  const dh = q.shape[2] / H;
  const S = k.shape[1];
  const headsFirst = (x: Tensor, n: number, length: number) =>
    tf.reshape(tf.transpose(tf.reshape(x, [B, length, n, dh]), [0, 2, 1, 3]), [B * Hkv, (n / Hkv) * length, dh]);
  const keys = headsFirst(k, Hkv, S) as Tensor3D;
  const scores = tf.reshape(batchMatMul(headsFirst(q, H, T) as Tensor3D, tf.transpose(keys, [0, 2, 1]) as Tensor3D), [
    B,
    H,
    T,
    S,
  ]);
  const softmax = tf.softmax(tf.add(tf.mul(scores, 1 / Math.sqrt(dh)), mask.additiveBias()));
  const probabilities = dropout === undefined ? softmax : tf.mul(softmax, keepMask([B, H, T, S], dropout));
  const mixed = batchMatMul(
    tf.reshape(probabilities, [B * Hkv, (H / Hkv) * T, S]) as Tensor3D,
    headsFirst(v, Hkv, S) as Tensor3D,
  );
  return tf.reshape(tf.transpose(tf.reshape(mixed, [B, H, T, dh]), [0, 2, 1, 3]), [B, T, H * dh]) as Tensor3D;
};

/** Attention by the kernels where they are registered for this head size, else composed of tfjs ops. */
export const selfAttention: AttentionPath = (q, k, v, mask, heads, dropout, turns) => {
  const headDim = q.shape[2] / heads.query;
  // The kernels step through the head dimension four floats at a time.
  const kernel = headDim % 4 === 0 && hasKernel(CAUSAL_ATTENTION);
  if (kernel) return fusedAttention(q, k, v, mask, heads, dropout, turns);
  if (turns !== undefined) throw new Error('attention rotates queries and keys only in its kernels');
  // A KV cache's room for later steps (webgpu's) is cut off for the ops.
  return compositeAttention(q, heldPositions(k, mask.keys), heldPositions(v, mask.keys), mask, heads, dropout);
};
