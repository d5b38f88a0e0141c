/**
 * The benchmarks' model for a large vocabulary: builtin:small's architecture cut to 2 layers (hidden 256, tied head)
 * with `vocabSize` tokens, random weights from a fixed seed.
 */
import { Rng } from '../src/engine/rng.js';
import { randomWeightInit } from '../src/models/init.js';
import { LlamaModel } from '../src/models/llama/model.js';
import type { LlamaConfig } from '../src/models/llama/config.js';
import { BUILTIN_MODELS } from '../src/models/builtin.js';

export function largeVocabularyModel(vocabSize: number): LlamaModel {
  const config: LlamaConfig = { ...BUILTIN_MODELS['small']!.config, numHiddenLayers: 2, vocabSize };
  return new LlamaModel(config, randomWeightInit(new Rng(5), config.initializerRange));
}
