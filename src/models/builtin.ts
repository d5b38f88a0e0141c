/**
 * The models mceval ships without any download: Llama-architecture decoders with the byte-level tokenizer,
 * initialised from a fixed seed (the seed is part of the model, like a checkpoint's weights, so `builtin:tiny` is the
 * same network in every run; `--seed` governs training only).
 */
import type { LlamaConfig } from './llama/config.js';

export interface BuiltinModel {
  readonly description: string;
  readonly config: LlamaConfig;
  readonly weightSeed: number;
}

const BYTE_VOCAB = 259;

function decoder(overrides: Partial<LlamaConfig> & Pick<LlamaConfig, 'hiddenSize' | 'intermediateSize'>): LlamaConfig {
  return {
    vocabSize: BYTE_VOCAB,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    maxPositionEmbeddings: 512,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
    attentionBias: false,
    mlpBias: false,
    initializerRange: 0.1,
    padTokenId: 0,
    ...overrides,
  };
}

export const BUILTIN_MODELS: Readonly<Record<string, BuiltinModel>> = {
  tiny: {
    description: 'Llama-architecture decoder, 2 layers, hidden 64, 4 heads (2 KV), byte-level tokenizer; the default',
    config: decoder({ hiddenSize: 64, intermediateSize: 176 }),
    weightSeed: 20260001,
  },
  small: {
    description:
      'Llama-architecture decoder, 4 layers, hidden 256, 8 heads (4 KV), byte-level tokenizer; for benchmarks',
    config: decoder({
      hiddenSize: 256,
      intermediateSize: 688,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
    }),
    weightSeed: 20260002,
  },
  medium: {
    description:
      'Llama-architecture decoder, 12 layers, hidden 768, 12 heads, ~99M parameters, byte-level tokenizer; for GPU benchmarks',
    config: decoder({
      hiddenSize: 768,
      intermediateSize: 2560,
      numHiddenLayers: 12,
      numAttentionHeads: 12,
      numKeyValueHeads: 12,
      initializerRange: 0.02,
    }),
    weightSeed: 20260003,
  },
};
