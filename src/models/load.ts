/**
 * Resolves a `--model` argument — `builtin:NAME`, a Hugging Face model folder, or a hub id (downloaded into the
 * cache first) — to a model and its tokenizer.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { Rng } from '../engine/rng.js';
import { BUILTIN_MODELS } from './builtin.js';
import { LlamaModel, type WeightInit } from './llama/model.js';
import type { BaseModelCache } from './base-model-cache.js';
import { randomWeightInit } from './init.js';
import { loadLlamaFolder, readConfigJson } from './hf/load-folder.js';
import { ByteLevelTokenizer } from './tokenizers/byte-level.js';
import { HfTokenizer } from './tokenizers/hf-tokenizer.js';
import { downloadFromHub, isHubId, type HubOptions } from './hub/download.js';
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

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Checks a model argument without reading weights, so a typo fails before any training starts. */
export function validateModelSpec(spec: string): void {
  if (spec.startsWith(BUILTIN_PREFIX)) {
    if (BUILTIN_MODELS[spec.slice(BUILTIN_PREFIX.length)] === undefined) {
      throw new UserError(`Unknown builtin model "${spec}": use one of ${builtinModelNames().join(', ')}.`);
    }
    return;
  }
  if (isDirectory(spec)) {
    readConfigJson(spec);
    if (!existsSync(join(spec, 'tokenizer.json'))) {
      throw new UserError(`${spec} has no tokenizer.json: put the model's fast-tokenizer file next to config.json.`);
    }
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

/** With a cache, the weights are read (or initialised) once and every later load starts from the same ones. */
export function loadModel(spec: string, cache?: BaseModelCache): LoadedModel {
  validateModelSpec(spec);
  const cached = cache?.cached(spec);
  if (cached !== undefined)
    return { id: spec, model: new LlamaModel(cached.config, cached.init), tokenizer: cached.tokenizer };
  const record = (init: WeightInit) => cache?.recording(spec, init) ?? init;
  const loaded = ((): LoadedModel => {
    if (spec.startsWith(BUILTIN_PREFIX)) {
      const builtin = BUILTIN_MODELS[spec.slice(BUILTIN_PREFIX.length)]!;
      const init = randomWeightInit(new Rng(builtin.weightSeed), builtin.config.initializerRange);
      return { id: spec, model: new LlamaModel(builtin.config, record(init)), tokenizer: new ByteLevelTokenizer() };
    }
    return { id: spec, model: loadLlamaFolder(spec, record), tokenizer: HfTokenizer.fromFolder(spec) };
  })();
  cache?.remember(spec, loaded.model.config, loaded.tokenizer);
  return loaded;
}
