/**
 * Writes a Llama model as a Hugging Face folder (config.json + model.safetensors, float32, transformers' names and
 * [out, in] layout), so a fully fine-tuned model loads in transformers — and in mceval through loadLlamaFolder.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LlamaModel } from '../llama/model.js';
import type { LlamaConfig } from '../llama/config.js';
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
    pad_token_id: config.padTokenId,
    torch_dtype: 'float32',
  };
}

export function saveLlamaFolder(model: LlamaModel, dir: string): void {
  const state: TensorRecord = {};
  for (const { name, variable, isLinearWeight } of model.namedParameters()) {
    state[name] = isLinearWeight ? transposedEntry(variable) : tensorEntry(variable);
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'model.safetensors'), encodeSafetensors(state));
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(llamaConfigJson(model.config), null, 2)}\n`);
}
