/**
 * Reads a transformers `config.json` of a Llama-family model into a LlamaConfig. Both config styles are accepted:
 * transformers 4 (`rope_theta`, `rope_scaling` at the top level) and transformers 5 (`rope_parameters`).
 */
import { UserError } from '../../errors.js';
import type { Llama3RopeScaling, LlamaConfig } from '../llama/config.js';

type RawConfig = Record<string, unknown>;

function required(raw: RawConfig, key: string, source: string): number {
  const value = raw[key];
  if (typeof value !== 'number') throw new UserError(`${source}: "${key}" is missing or not a number.`);
  return value;
}

function optionalNumber(raw: RawConfig, key: string, fallback: number): number {
  const value = raw[key];
  return typeof value === 'number' ? value : fallback;
}

/** The RoPE settings, from rope_parameters (transformers 5) or rope_theta + rope_scaling (transformers 4). */
export function readRope(raw: RawConfig, source: string): { theta: number; scaling?: Llama3RopeScaling } {
  const parameters = (raw['rope_parameters'] ?? raw['rope_scaling'] ?? null) as RawConfig | null;
  const theta =
    typeof parameters?.['rope_theta'] === 'number'
      ? (parameters['rope_theta'] as number)
      : optionalNumber(raw, 'rope_theta', 10000);
  const type = (parameters?.['rope_type'] ?? parameters?.['type'] ?? 'default') as string;
  if (type === 'default') return { theta };
  if (type !== 'llama3') {
    throw new UserError(`${source}: RoPE type "${type}" is not supported; mceval implements "default" and "llama3".`);
  }
  const p = parameters!;
  return {
    theta,
    scaling: {
      type: 'llama3',
      factor: required(p, 'factor', source),
      lowFreqFactor: required(p, 'low_freq_factor', source),
      highFreqFactor: required(p, 'high_freq_factor', source),
      originalMaxPositionEmbeddings: required(p, 'original_max_position_embeddings', source),
    },
  };
}

export function parseLlamaConfig(raw: RawConfig, source: string): LlamaConfig {
  const activation = raw['hidden_act'] ?? 'silu';
  if (activation !== 'silu')
    throw new UserError(`${source}: hidden_act "${String(activation)}" is not supported; Llama uses silu.`);
  const heads = required(raw, 'num_attention_heads', source);
  const rope = readRope(raw, source);
  return {
    vocabSize: required(raw, 'vocab_size', source),
    hiddenSize: required(raw, 'hidden_size', source),
    intermediateSize: required(raw, 'intermediate_size', source),
    numHiddenLayers: required(raw, 'num_hidden_layers', source),
    numAttentionHeads: heads,
    numKeyValueHeads: optionalNumber(raw, 'num_key_value_heads', heads),
    maxPositionEmbeddings: optionalNumber(raw, 'max_position_embeddings', 2048),
    rmsNormEps: optionalNumber(raw, 'rms_norm_eps', 1e-6),
    ropeTheta: rope.theta,
    ...(rope.scaling === undefined ? {} : { ropeScaling: rope.scaling }),
    ...(typeof raw['head_dim'] === 'number' ? { headDim: raw['head_dim'] as number } : {}),
    tieWordEmbeddings: raw['tie_word_embeddings'] === true,
    attentionBias: raw['attention_bias'] === true,
    mlpBias: raw['mlp_bias'] === true,
    initializerRange: optionalNumber(raw, 'initializer_range', 0.02),
    // Llama checkpoints often have no pad token; 0 is only used to fill padded positions, which the mask hides.
    padTokenId: optionalNumber(raw, 'pad_token_id', 0),
    attentionDropout: optionalNumber(raw, 'attention_dropout', 0),
  };
}
