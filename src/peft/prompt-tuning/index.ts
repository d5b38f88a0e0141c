/**
 * Prompt tuning (Lester et al. 2021): a trainable soft prompt of virtual-token embeddings prepended to every input,
 * the model itself frozen. Random initialisation is N(0, 1), as PEFT's (torch.nn.Embedding) default.
 */
import { tf } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { readNumber } from '../../config-validation.js';
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { adapterSection } from '../lora/config.js';

export interface PromptTuningConfig {
  readonly numVirtualTokens: number;
}

export function parsePromptTuningConfig(raw: unknown, source: string): PromptTuningConfig {
  const { object, where } = adapterSection(raw, source, ['numVirtualTokens']);
  return { numVirtualTokens: readNumber(object, 'numVirtualTokens', where, { default: 8, min: 1, integer: true }) };
}

export const promptTuningMethod: AdapterMethod<PromptTuningConfig> = {
  name: 'prompt-tuning',
  description: 'Prompt tuning: trainable virtual-token embeddings prepended to every input; the model stays frozen',
  parseConfig: parsePromptTuningConfig,
  apply(model, config, rng): AppliedAdapter {
    if (model.promptEmbeddings !== undefined) throw new Error('The model already has a soft prompt.');
    const size = config.numVirtualTokens * model.config.hiddenSize;
    const initial = rng.fork('prompt').normalArray(size);
    const prompt = newVariable(() => tf.tensor2d(initial, [config.numVirtualTokens, model.config.hiddenSize]), true);
    model.promptEmbeddings = prompt;
    return {
      method: 'prompt-tuning',
      groups: [{ name: 'prompt', variables: [prompt], learningRateMultiplier: 1 }],
      hyperparameters: { num_virtual_tokens: config.numVirtualTokens },
      dispose() {
        model.promptEmbeddings = undefined;
        prompt.dispose();
      },
    };
  },
};
