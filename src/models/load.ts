/** Resolves a `--model` argument to a model and its tokenizer. */
import { UserError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { BUILTIN_MODELS } from './builtin.js';
import { LlamaModel } from './llama/model.js';
import { randomWeightInit } from './init.js';
import { ByteLevelTokenizer } from './tokenizers/byte-level.js';
import type { TextTokenizer } from './tokenizers/tokenizer.js';

export interface LoadedModel {
  readonly id: string;
  readonly model: LlamaModel;
  readonly tokenizer: TextTokenizer;
}

const BUILTIN_PREFIX = 'builtin:';

export function builtinModelNames(): string[] {
  return Object.keys(BUILTIN_MODELS).map((name) => `${BUILTIN_PREFIX}${name}`);
}

/** Checks a model argument without building anything, so a typo fails before any training starts. */
export function validateModelSpec(spec: string): void {
  if (!spec.startsWith(BUILTIN_PREFIX)) {
    throw new UserError(
      `Model "${spec}" is not available: this version of mceval runs the builtin models (${builtinModelNames().join(', ')}); ` +
        'loading Hugging Face checkpoint folders and hub ids is not supported yet.',
    );
  }
  const name = spec.slice(BUILTIN_PREFIX.length);
  if (BUILTIN_MODELS[name] === undefined) {
    throw new UserError(`Unknown builtin model "${spec}": use one of ${builtinModelNames().join(', ')}.`);
  }
}

export function loadModel(spec: string): LoadedModel {
  validateModelSpec(spec);
  const builtin = BUILTIN_MODELS[spec.slice(BUILTIN_PREFIX.length)]!;
  const init = randomWeightInit(new Rng(builtin.weightSeed), builtin.config.initializerRange);
  return { id: spec, model: new LlamaModel(builtin.config, init), tokenizer: new ByteLevelTokenizer() };
}
