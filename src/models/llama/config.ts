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
  readonly tieWordEmbeddings: boolean;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  /** Standard deviation of the normal initialisation (transformers' initializer_range). */
  readonly initializerRange: number;
  readonly padTokenId: number;
}

export function headDim(config: LlamaConfig): number {
  return config.hiddenSize / config.numAttentionHeads;
}

/** Throws on a configuration the model cannot be built from, naming the offending field. */
export function validateLlamaConfig(config: LlamaConfig): void {
  const problems: string[] = [];
  if (config.hiddenSize % config.numAttentionHeads !== 0)
    problems.push('hidden_size must be divisible by num_attention_heads');
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0) {
    problems.push('num_attention_heads must be divisible by num_key_value_heads');
  }
  if ((config.hiddenSize / config.numAttentionHeads) % 2 !== 0)
    problems.push('the head dimension must be even for RoPE');
  if (problems.length > 0) throw new Error(`Invalid Llama configuration: ${problems.join('; ')}`);
}
