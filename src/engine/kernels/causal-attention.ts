/**
 * tfjs kernels for self-attention on cpu and wasm — causal (a decoder), or bidirectional with `causal: false` (an
 * encoder; the names stay the causal ones): `McevalCausalAttention` (q, k, v → output and each row's log-sum-exp) and
 * `McevalCausalAttentionGrad` (→ dq, dk, dv), both running the WebAssembly SIMD kernels of assembly/attention.ts. They
 * never hold more than four rows of scores, where the composite path (matMul, softmax, matMul) keeps [batch, heads,
 * queries, keys] alive for the backward pass: memory linear in the sequence length.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { attentionBackward, attentionForward, type AttentionGeometry } from './attention-wasm.js';
import { copiedFloatOutput, inputValues } from './backend-output.js';
import type { HashedDropout } from '../dropout-bits.js';

export const CAUSAL_ATTENTION = 'McevalCausalAttention';
export const CAUSAL_ATTENTION_GRAD = 'McevalCausalAttentionGrad';

/**
 * Kernel attributes: the key mask [batch, keys] (1 = real token), query and key-value heads, the score scale,
 * whether a query sees only the keys up to its own position (a decoder) or every real key (an encoder), and the
 * dropout of the probabilities in training: the mask of a [batch, heads, queries, keys] tensor drawn by
 * engine/ops/dropout.ts, the one the composite path multiplies its probabilities by.
 * Inputs: q [batch, queries, heads·headDim], k and v [batch, keys, kvHeads·headDim] (the projections' own layout);
 * on webgpu also `turns`, RoPE's tables, where q and k come before RoPE (kernels/webgpu/causal-attention.ts).
 */
export interface CausalAttentionAttrs {
  readonly keyMask: Int32Array;
  readonly heads: number;
  readonly kvHeads: number;
  readonly scale: number;
  readonly causal: boolean;
  readonly dropout?: HashedDropout;
}

/**
 * The key position of a row's first query: the last key it sees is this plus the query's index. Causally the queries
 * are the last positions of the sequence (keys − queries); without causality every query reaches the last key.
 */
export function attentionReach(keys: number, queries: number, causal: boolean): number {
  return causal ? keys - queries : keys - 1;
}

function geometry(inputs: NamedTensorInfoMap, attrs: NamedAttrMap): AttentionGeometry {
  const { q, k } = inputs as { q: TensorInfo; k: TensorInfo };
  // Only webgpu's shaders rotate queries and keys (models/layers/causal-attention.ts gives the tables there alone).
  if (inputs['turns'] !== undefined) throw new Error('cpu and wasm attention kernels take q and k after RoPE');
  const { keyMask, heads, kvHeads, scale, causal, dropout } = attrs as unknown as CausalAttentionAttrs;
  const [batch, queries, width] = q.shape as [number, number, number];
  // A KV cache with room beyond its keys is webgpu's (models/layers/rope.ts); these kernels read k's every position.
  if (keyMask.length !== batch * k.shape[1]!) {
    throw new Error(`attention: a key mask of ${keyMask.length} does not cover k [${k.shape}] position for position`);
  }
  const entries = batch * kvHeads;
  return {
    entries,
    rows: (heads / kvHeads) * queries,
    keys: k.shape[1]!,
    headDim: width / heads,
    queries,
    kvHeads,
    scale,
    reach: attentionReach(k.shape[1]!, queries, causal),
    dropout,
  };
}

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v } = inputs as { q: TensorInfo; k: TensorInfo; v: TensorInfo };
  const g = geometry(inputs, attrs!);
  const { out, lse } = attentionForward(
    inputValues(backend, q),
    inputValues(backend, k),
    inputValues(backend, v),
    (attrs as unknown as CausalAttentionAttrs).keyMask,
    g,
  );
  // Outputs are made only now: making one can grow the wasm heap and detach the input views read above.
  return [copiedFloatOutput(backend, q.shape, out), copiedFloatOutput(backend, [g.entries, g.rows], lse)];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { q, k, v, out, lse, dy } = inputs as Record<'q' | 'k' | 'v' | 'out' | 'lse' | 'dy', TensorInfo>;
  const values = (t: TensorInfo) => inputValues<Float32Array>(backend, t);
  const grads = attentionBackward(
    values(q),
    values(k),
    values(v),
    (attrs as unknown as CausalAttentionAttrs).keyMask,
    values(out),
    values(lse),
    values(dy),
    geometry(inputs, attrs!),
  );
  return [
    copiedFloatOutput(backend, q.shape, grads.dq),
    copiedFloatOutput(backend, k.shape, grads.dk),
    copiedFloatOutput(backend, v.shape, grads.dv),
  ];
};

export function causalAttentionKernels(backendName: string): KernelConfig[] {
  return [
    { kernelName: CAUSAL_ATTENTION, backendName, kernelFunc: forward },
    { kernelName: CAUSAL_ATTENTION_GRAD, backendName, kernelFunc: backward },
  ];
}
