/** The hyperparameters of a BERT or RoBERTa encoder, read from a transformers config.json. */
import { UserError } from '../../errors.js';

export interface EncoderConfig {
  readonly modelType: 'bert' | 'roberta';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly maxPositionEmbeddings: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
  readonly initializerRange: number;
  /** Dropout in training on the embeddings and on each attention and feed-forward output (hidden_dropout_prob). */
  readonly hiddenDropout: number;
  /** Dropout in training of the attention probabilities (attention_probs_dropout_prob). */
  readonly attentionDropout: number;
  /** Dropout in training inside the classification head (classifier_dropout, else hidden_dropout_prob). */
  readonly classifierDropout: number;
}

export function parseEncoderConfig(raw: Record<string, unknown>, source: string): EncoderConfig {
  const modelType = raw['model_type'];
  if (modelType !== 'bert' && modelType !== 'roberta')
    throw new UserError(`${source}: model_type "${String(modelType)}" is not an encoder mceval loads.`);
  const activation = raw['hidden_act'] ?? 'gelu';
  if (activation !== 'gelu')
    throw new UserError(`${source}: hidden_act "${String(activation)}" is not supported; BERT and RoBERTa use gelu.`);
  const positions = raw['position_embedding_type'] ?? 'absolute';
  if (positions !== 'absolute')
    throw new UserError(
      `${source}: position_embedding_type "${String(positions)}" is not supported; mceval reads absolute positions.`,
    );
  const number = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number') throw new UserError(`${source}: "${key}" is missing or not a number.`);
    return value;
  };
  return {
    modelType,
    vocabSize: number('vocab_size'),
    hiddenSize: number('hidden_size'),
    intermediateSize: number('intermediate_size'),
    numHiddenLayers: number('num_hidden_layers'),
    numAttentionHeads: number('num_attention_heads'),
    maxPositionEmbeddings: number('max_position_embeddings', 512),
    typeVocabSize: number('type_vocab_size', 2),
    layerNormEps: number('layer_norm_eps', 1e-12),
    padTokenId: number('pad_token_id', modelType === 'roberta' ? 1 : 0),
    initializerRange: number('initializer_range', 0.02),
    hiddenDropout: number('hidden_dropout_prob', 0.1),
    attentionDropout: number('attention_probs_dropout_prob', 0.1),
    classifierDropout:
      raw['classifier_dropout'] == null ? number('hidden_dropout_prob', 0.1) : number('classifier_dropout'),
  };
}
