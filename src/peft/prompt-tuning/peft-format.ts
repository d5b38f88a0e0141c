/**
 * Prompt-tuning adapters in PEFT's layout: peft_type "PROMPT_TUNING", num_virtual_tokens, token_dim, the init
 * fields, and one tensor `prompt_embeddings` [virtual tokens, hidden].
 */
import { tf } from '../../engine/tf.js';
import { Rng } from '../../engine/rng.js';
import { UserError } from '../../errors.js';
import type { Model } from '../../models/model.js';
import type { AppliedAdapter } from '../types.js';
import {
  fillAdapterFromFolder,
  readAdapterConfig,
  requireTensor,
  writeAdapterFolder,
  type AdapterHead,
} from '../peft-files.js';
import { tensorEntry } from '../../models/safetensors.js';
import { promptTuningMethod, type PromptTuningConfig } from './index.js';

export function savePromptTuningAdapter(
  model: Model,
  config: PromptTuningConfig,
  dir: string,
  head?: AdapterHead,
): void {
  const prompt = model.promptEmbeddings;
  if (prompt === undefined) throw new UserError('The model has no soft prompt to save.');
  writeAdapterFolder(
    dir,
    {
      peft_type: 'PROMPT_TUNING',
      task_type: 'CAUSAL_LM',
      num_virtual_tokens: config.numVirtualTokens,
      token_dim: model.config.hiddenSize,
      num_transformer_submodules: 1,
      num_attention_heads: model.config.numAttentionHeads,
      num_layers: model.config.numHiddenLayers,
      prompt_tuning_init: config.init.toUpperCase(),
      prompt_tuning_init_text: config.initText ?? null,
      tokenizer_name_or_path: null,
      inference_mode: true,
    },
    { prompt_embeddings: tensorEntry(prompt) },
    {},
    head,
  );
}

export function loadPromptTuningAdapter(
  model: Model,
  dir: string,
): { adapter: AppliedAdapter; config: PromptTuningConfig } {
  const { raw, path } = readAdapterConfig(dir);
  if (raw['peft_type'] !== 'PROMPT_TUNING')
    throw new UserError(`${path}: peft_type ${String(raw['peft_type'])} is not PROMPT_TUNING.`);
  const text = raw['prompt_tuning_init_text'];
  const config: PromptTuningConfig = {
    numVirtualTokens: raw['num_virtual_tokens'] as number,
    ...(raw['prompt_tuning_init'] === 'TEXT' && typeof text === 'string'
      ? { init: 'text' as const, initText: text }
      : { init: 'random' as const }),
  };
  // The saved tensor replaces whatever the init made, so a random start (no tokenizer needed) is enough.
  const adapter = promptTuningMethod.apply(model, { ...config, init: 'random' }, new Rng(0));
  fillAdapterFromFolder(dir, adapter, (file) => {
    const { shape, values } = requireTensor(file, 'prompt_embeddings', 'the soft prompt');
    if (shape[0] !== config.numVirtualTokens || shape[1] !== model.config.hiddenSize) {
      throw new UserError(
        `${file.path}: tensor "prompt_embeddings" has shape [${shape}], the model needs [${config.numVirtualTokens},${model.config.hiddenSize}].`,
      );
    }
    model.promptEmbeddings!.assign(tf.tensor2d(values, [shape[0]!, shape[1]!]));
  });
  return { adapter, config };
}
