/**
 * Writes a model as a Hugging Face folder (config.json + model.safetensors, float32, transformers' names and
 * [out, in] layout), so a fully fine-tuned model loads in transformers — and in mceval through its folder loader.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LlamaModel } from '../llama/model.js';
import type { LlamaConfig } from '../llama/config.js';
import type { EncoderModel } from '../encoder/model.js';
import type { EncoderConfig } from '../encoder/config.js';
import type { NamedParameter } from '../named-parameters.js';
import { encodeSafetensors, tensorEntry, transposedEntry, type TensorRecord } from '../safetensors.js';
import { writeFileAtomic } from '../../atomic-write.js';

/** transformers' LlamaConfig fields for a config mceval holds (the RoPE settings in transformers 4's spelling). */
export function llamaConfigJson(config: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    num_key_value_heads: config.numKeyValueHeads,
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling:
      config.ropeScaling === undefined
        ? null
        : {
            rope_type: 'llama3',
            factor: config.ropeScaling.factor,
            low_freq_factor: config.ropeScaling.lowFreqFactor,
            high_freq_factor: config.ropeScaling.highFreqFactor,
            original_max_position_embeddings: config.ropeScaling.originalMaxPositionEmbeddings,
          },
    ...(config.headDim === undefined ? {} : { head_dim: config.headDim }),
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_bias: config.attentionBias,
    mlp_bias: config.mlpBias,
    initializer_range: config.initializerRange,
    attention_dropout: config.attentionDropout ?? 0,
    pad_token_id: config.padTokenId,
    torch_dtype: 'float32',
  };
}

/** transformers' BertConfig / RobertaConfig for an encoder classifier of `numLabels` classes. */
export function encoderConfigJson(config: EncoderConfig, numLabels: number): Record<string, unknown> {
  const labels = Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`);
  return {
    architectures: [config.modelType === 'bert' ? 'BertForSequenceClassification' : 'RobertaForSequenceClassification'],
    model_type: config.modelType,
    hidden_act: 'gelu',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    max_position_embeddings: config.maxPositionEmbeddings,
    type_vocab_size: config.typeVocabSize,
    layer_norm_eps: config.layerNormEps,
    hidden_dropout_prob: config.hiddenDropout,
    attention_probs_dropout_prob: config.attentionDropout,
    classifier_dropout: config.classifierDropout,
    initializer_range: config.initializerRange,
    pad_token_id: config.padTokenId,
    id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(labels.map((label, i) => [label, i])),
    torch_dtype: 'float32',
  };
}

/** Named parameters as a safetensors state dict, linear weights back in transformers' [out, in] layout. */
export function stateDict(parameters: readonly NamedParameter[]): TensorRecord {
  const state: TensorRecord = {};
  for (const { name, variable, isLinearWeight } of parameters) {
    state[name] = isLinearWeight ? transposedEntry(variable) : tensorEntry(variable);
  }
  return state;
}

function writeModelFolder(dir: string, state: TensorRecord, config: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'model.safetensors'), encodeSafetensors(state));
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

export function saveLlamaFolder(model: LlamaModel, dir: string): void {
  writeModelFolder(dir, stateDict(model.namedParameters()), llamaConfigJson(model.config));
}

/** An encoder with its classification head, as transformers' …ForSequenceClassification saves it. */
export function saveEncoderFolder(model: EncoderModel, dir: string): void {
  const numLabels = model.head?.out.outFeatures;
  if (numLabels === undefined) throw new Error('saveEncoderFolder needs a classification head');
  writeModelFolder(dir, stateDict(model.namedParameters()), encoderConfigJson(model.config, numLabels));
}
