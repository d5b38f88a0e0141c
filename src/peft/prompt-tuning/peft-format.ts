/** Prompt-tuning adapters in PEFT's layout: peft_type "PROMPT_TUNING", num_virtual_tokens, and `prompt_embeddings`. */
import { tf } from '../../engine/tf.js';
import { Rng } from '../../engine/rng.js';
import { UserError } from '../../errors.js';
import type { LlamaModel } from '../../models/llama/model.js';
import type { AppliedAdapter } from '../types.js';
import { fillAdapterFromFolder, readAdapterConfig, requireTensor } from '../peft-files.js';
import { promptTuningMethod, type PromptTuningConfig } from './index.js';

export function loadPromptTuningAdapter(
  model: LlamaModel,
  dir: string,
): { adapter: AppliedAdapter; config: PromptTuningConfig } {
  const { raw, path } = readAdapterConfig(dir);
  if (raw['peft_type'] !== 'PROMPT_TUNING')
    throw new UserError(`${path}: peft_type ${String(raw['peft_type'])} is not PROMPT_TUNING.`);
  const config: PromptTuningConfig = { numVirtualTokens: raw['num_virtual_tokens'] as number };
  const adapter = promptTuningMethod.apply(model, config, new Rng(0));
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
