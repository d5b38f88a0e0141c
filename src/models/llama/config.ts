import { UserError } from '../../errors.js';

/** The hyperparameters of a Llama-architecture decoder, named as in transformers' LlamaConfig. */
export interface LlamaConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly maxPositionEmbeddings: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** Llama-3 frequency scaling (transformers' rope_type "llama3"); absent for the default RoPE. */
  readonly ropeScaling?: Llama3RopeScaling;
  /** Per-head dimension when it is not hidden_size / num_attention_heads (transformers' head_dim). */
  readonly headDim?: number;
  readonly tieWordEmbeddings: boolean;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  /** Standard deviation of the normal initialisation (transformers' initializer_range). */
  readonly initializerRange: number;
  readonly padTokenId: number;
  /** Dropout in training of the attention probabilities (transformers' attention_dropout); none when absent. */
  readonly attentionDropout?: number;
}

export interface Llama3RopeScaling {
  readonly type: 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

export function headDim(config: LlamaConfig): number {
  return config.headDim ?? config.hiddenSize / config.numAttentionHeads;
}

/** Throws on a configuration the model cannot be built from, naming the offending field. */
export function validateLlamaConfig(config: LlamaConfig): void {
  const problems: string[] = [];
  if (config.headDim === undefined && config.hiddenSize % config.numAttentionHeads !== 0) {
    problems.push('hidden_size must be divisible by num_attention_heads (or head_dim given)');
  }
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0) {
    problems.push('num_attention_heads must be divisible by num_key_value_heads');
  }
  if (headDim(config) % 2 !== 0) problems.push('the head dimension must be even for RoPE');
  if (problems.length > 0) throw new UserError(`Invalid Llama configuration: ${problems.join('; ')}`);
}
