/** The two model families mceval runs: Llama decoders (every task kind) and BERT/RoBERTa encoders (classification). */
import { UserError } from '../errors.js';
import { EncoderModel } from './encoder/model.js';
import type { LlamaModel } from './llama/model.js';

export type Model = LlamaModel | EncoderModel;

/** The model as a decoder, or one line saying that `purpose` needs one. */
export function requireDecoder(model: Model, purpose: string): LlamaModel {
  if (model instanceof EncoderModel) {
    throw new UserError(
      `${purpose} needs a decoder (llama); this model is a ${model.config.modelType} encoder, which mceval ` +
        'fine-tunes and evaluates on classification tasks only.',
    );
  }
  return model;
}
