/**
 * Resolves a `--model` argument — `builtin:NAME`, a Hugging Face model folder, or a hub id (downloaded into the
 * cache first) — to a model and its tokenizer: a Llama decoder, or (for `mceval run`'s classification tasks) a
 * BERT/RoBERTa encoder.
 */
import { existsSync, statSync } from 'node:fs';
import { UserError } from '../errors.js';
import { didYouMean } from '../nearest-name.js';
import { Rng } from '../engine/rng.js';
import { BUILTIN_MODELS } from './builtin.js';
import { LlamaModel, type WeightInit } from './llama/model.js';
import type { BaseModelCache } from './base-model-cache.js';
import { randomWeightInit } from './init.js';
import {
  encoderNotDecoder,
  isEncoderType,
  loadEncoderFolder,
  loadLlamaFolder,
  readConfigJson,
} from './hf/load-folder.js';
import { ByteLevelTokenizer } from './tokenizers/byte-level.js';
import { HfTokenizer } from './tokenizers/hf-tokenizer.js';
import { downloadFromHub, isHubId, type HubOptions } from './hub/download.js';
import type { TextTokenizer } from './tokenizers/tokenizer.js';
import { requireDecoder, type Model } from './model.js';
import { EncoderModel } from './encoder/model.js';

export interface LoadedModel<M extends Model = LlamaModel> {
  readonly id: string;
  readonly model: M;
  readonly tokenizer: TextTokenizer;
}

/** A decoder, or an encoder (classification only): read from the folder's config.json without loading weights. */
export type ModelArchitecture = 'decoder' | 'encoder';

const BUILTIN_PREFIX = 'builtin:';

export function builtinModelNames(): string[] {
  return Object.keys(BUILTIN_MODELS).map((name) => `${BUILTIN_PREFIX}${name}`);
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Checks a model argument without reading weights, so a typo fails before any training starts. */
export function validateModelSpec(spec: string): void {
  if (spec.startsWith(BUILTIN_PREFIX)) {
    if (BUILTIN_MODELS[spec.slice(BUILTIN_PREFIX.length)] === undefined) {
      // Compared without the prefix they share, which would make any two names near.
      const name = spec.slice(BUILTIN_PREFIX.length);
      const near = didYouMean(name, Object.keys(BUILTIN_MODELS), (model) => `${BUILTIN_PREFIX}${model}`);
      throw new UserError(`Unknown builtin model "${spec}"${near}: use one of ${builtinModelNames().join(', ')}.`);
    }
    return;
  }
  if (isDirectory(spec)) {
    readConfigJson(spec);
    const missing = HfTokenizer.missingIn(spec);
    if (missing !== undefined) throw new UserError(missing);
    return;
  }
  throw new UserError(
    `Model "${spec}" is neither builtin (${builtinModelNames().join(', ')}), a local folder, nor a hub id (owner/name): ` +
      'pass a Hugging Face model folder (config.json, *.safetensors, tokenizer.json).',
  );
}

/** A hub id becomes the path of its downloaded folder; builtin names and local folders pass through. */
export async function resolveModelSpec(spec: string, hub: HubOptions = {}): Promise<string> {
  if (spec.startsWith(BUILTIN_PREFIX) || !isHubId(spec)) return spec;
  return downloadFromHub(spec, hub);
}

/** Which family a (validated, resolved) model spec belongs to. */
export function modelArchitecture(spec: string): ModelArchitecture {
  if (spec.startsWith(BUILTIN_PREFIX)) return 'decoder';
  return isEncoderType(readConfigJson(spec)['model_type']) ? 'encoder' : 'decoder';
}

/** A decoder: what generation, scoring and causal-LM training need. An encoder's folder is refused in one line. */
export function loadModel(spec: string, cache?: BaseModelCache): LoadedModel {
  validateModelSpec(spec);
  if (modelArchitecture(spec) === 'encoder') throw encoderNotDecoder(spec, String(readConfigJson(spec)['model_type']));
  const loaded = loadAnyModel(spec, cache);
  return { ...loaded, model: requireDecoder(loaded.model, 'Loading a decoder') };
}

/**
 * A decoder or an encoder (the latter without a classification head: the task adds one). With a cache, the weights
 * are read (or initialised) once and every later load starts from the same ones.
 */
export function loadAnyModel(spec: string, cache?: BaseModelCache): LoadedModel<Model> {
  validateModelSpec(spec);
  const cached = cache?.cached(spec);
  if (cached !== undefined) return { id: spec, ...cached };
  const record = (init: WeightInit) => cache?.recording(spec, init) ?? init;
  const loaded = ((): LoadedModel<Model> => {
    if (spec.startsWith(BUILTIN_PREFIX)) {
      const builtin = BUILTIN_MODELS[spec.slice(BUILTIN_PREFIX.length)]!;
      const init = randomWeightInit(new Rng(builtin.weightSeed), builtin.config.initializerRange);
      return { id: spec, model: new LlamaModel(builtin.config, record(init)), tokenizer: new ByteLevelTokenizer() };
    }
    const model =
      modelArchitecture(spec) === 'encoder'
        ? loadEncoderFolder(spec, { withCheckpointHead: false, wrapInit: record })
        : loadLlamaFolder(spec, record);
    return { id: spec, model, tokenizer: HfTokenizer.fromFolder(spec) };
  })();
  const { model } = loaded;
  cache?.remember(
    spec,
    model instanceof EncoderModel
      ? (init) => new EncoderModel(model.config, init)
      : (init) => new LlamaModel(model.config, init),
    loaded.tokenizer,
  );
  return loaded;
}
