/**
 * Prompt tuning (Lester et al. 2021): a trainable soft prompt of virtual-token embeddings prepended to every input,
 * the model itself frozen — a decoder's, or an encoder's as PEFT's sequence classifier prepends it (its head then
 * reads the first virtual token). Initialised N(0, 1), as PEFT's (torch.nn.Embedding) default, or, as PEFT's TEXT
 * init, from the embeddings of an initialisation text's tokens (special tokens included), cut or repeated to length.
 */
import { tf } from '../../engine/tf.js';
import { newVariable } from '../../engine/variables.js';
import { readNumber, readString } from '../../config-validation.js';
import { UserError } from '../../errors.js';
import { EncoderModel } from '../../models/encoder/model.js';
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { adapterSection } from '../lora/config.js';
import type { TextTokenizer } from '../../models/tokenizers/tokenizer.js';

export interface PromptTuningConfig {
  readonly numVirtualTokens: number;
  /** PEFT's prompt_tuning_init: "random" or "text". */
  readonly init: 'random' | 'text';
  /** PEFT's prompt_tuning_init_text, for the text init. */
  readonly initText?: string;
}

export function parsePromptTuningConfig(raw: unknown, source: string): PromptTuningConfig {
  const { object, where } = adapterSection(raw, source, ['numVirtualTokens', 'init', 'initText']);
  const init = readString(object, 'init', where, 'random');
  if (init !== 'random' && init !== 'text') {
    throw new UserError(`"init" in ${where} must be "random" or "text", not "${init}".`);
  }
  const numVirtualTokens = readNumber(object, 'numVirtualTokens', where, { default: 8, min: 1, integer: true });
  if (init === 'random') return { numVirtualTokens, init };
  return { numVirtualTokens, init, initText: readString(object, 'initText', where) };
}

/** The text's token ids, cut to `count` or repeated until they fill it (PEFT's PromptEmbedding). */
export function initTokenIds(tokenizer: TextTokenizer, text: string, count: number): number[] {
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new UserError(`The prompt-tuning init text "${text}" has no tokens.`);
  return Array.from({ length: count }, (_, i) => ids[i % ids.length]!);
}

export const promptTuningMethod: AdapterMethod<PromptTuningConfig> = {
  name: 'prompt-tuning',
  description: 'Prompt tuning: trainable virtual-token embeddings prepended to every input; the model stays frozen',
  parseConfig: parsePromptTuningConfig,
  apply(model, config, rng, tokenizer): AppliedAdapter {
    if (model.promptEmbeddings !== undefined) throw new Error('The model already has a soft prompt.');
    const { numVirtualTokens: count } = config;
    const hidden = model.config.hiddenSize;
    let prompt: tf.Variable;
    if (config.init === 'text') {
      if (tokenizer === undefined)
        throw new UserError('Prompt tuning with "init": "text" needs the model\'s tokenizer.');
      const ids = initTokenIds(tokenizer, config.initText!, count);
      const table = model instanceof EncoderModel ? model.wordEmbeddings : model.embedTokens;
      prompt = newVariable(() => tf.gather(table, tf.tensor1d(ids, 'int32')), true);
    } else {
      const initial = rng.fork('prompt').normalArray(count * hidden);
      prompt = newVariable(() => tf.tensor2d(initial, [count, hidden]), true);
    }
    model.promptEmbeddings = prompt;
    return {
      method: 'prompt-tuning',
      groups: [{ name: 'prompt', variables: [prompt], learningRateMultiplier: 1 }],
      hyperparameters: { num_virtual_tokens: count, prompt_tuning_init: config.init },
      dispose() {
        model.promptEmbeddings = undefined;
        prompt.dispose();
      },
    };
  },
};
