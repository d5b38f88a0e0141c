/**
 * Counted FLOPs of one adapter training step of a Llama decoder (forward, backward), for the benchmarks: the useful
 * matrix products only, 2·m·k·n each. Frozen base layers cost a forward and an input-gradient product; adapter
 * matrices (rank r on every linear layer) a forward and two backward products; causal attention counts only the
 * T(T+1)/2 (query, key ≤ query) pairs per row and head, QKᵀ and PV forward and four products backward. Elementwise
 * work, the embedding and the 2-label head are not counted.
 */
import { headDim, type LlamaConfig } from '../src/models/llama/config.js';

export function stepFlops(config: LlamaConfig, batch: number, length: number, rank: number): number {
  const tokens = batch * length;
  const d = config.hiddenSize;
  const dh = headDim(config);
  const q = config.numAttentionHeads * dh;
  const kv = config.numKeyValueHeads * dh;
  const m = config.intermediateSize;
  // [in, out] of q, k, v, o, gate, up, down.
  const linears: [number, number][] = [
    [d, q],
    [d, kv],
    [d, kv],
    [q, d],
    [d, m],
    [d, m],
    [m, d],
  ];
  const base = linears.reduce((sum, [i, o]) => sum + i * o, 0);
  const adapter = linears.reduce((sum, [i, o]) => sum + rank * (i + o), 0);
  const pairs = (batch * length * (length + 1)) / 2;
  const attention = 2 * 2 * pairs * dh * config.numAttentionHeads;
  const perLayer = 2 * tokens * base * 2 + 2 * tokens * adapter * 3 + attention * 3;
  return config.numHiddenLayers * perLayer;
}
