/**
 * Saves a sweep run's trained adapter: each method in PEFT's layout (adapter_config.json + adapter_model.safetensors,
 * as its `save…Adapter` writes it), full fine-tuning as a whole Hugging Face model folder. A classification task's
 * head, trained beside the adapter, goes to task_head.safetensors under transformers' names and layout (a decoder's
 * `score.weight` [labels, hidden]; RoBERTa's `classifier.dense.*` and `classifier.out_proj.*`, BERT's
 * `classifier.*`); an encoder's full fine-tuning keeps it in its folder, as transformers saves a classifier. The
 * baseline (`--adapter none`) has nothing to save.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-write.js';
import type { Variable } from '../engine/tf.js';
import { requireDecoder, type Model } from '../models/model.js';
import { EncoderModel } from '../models/encoder/model.js';
import { saveEncoderFolder, saveLlamaFolder, stateDict } from '../models/hf/save-folder.js';
import { encodeSafetensors } from '../models/safetensors.js';
import type { AdapterPreset } from './preset.js';
import { saveLoraAdapter } from './lora/peft-format.js';
import { saveMonteCloraAdapter } from './monteclora/peft-format.js';
import { saveIa3Adapter } from './ia3/peft-format.js';
import { savePromptTuningAdapter } from './prompt-tuning/peft-format.js';
import { saveAdaLoraAdapter } from './adalora/peft-format.js';
import type { LoraConfig } from './lora/config.js';
import type { MonteCloraConfig } from './monteclora/config.js';
import type { Ia3Config } from './ia3/config.js';
import type { PromptTuningConfig } from './prompt-tuning/index.js';
import type { AdaLoraConfig } from './adalora/config.js';

const SAVERS: Readonly<Record<string, (model: Model, config: unknown, dir: string) => void>> = {
  lora: (model, config, dir) => saveLoraAdapter(model, config as LoraConfig, dir),
  monteclora: (model, config, dir) => saveMonteCloraAdapter(model, config as MonteCloraConfig, dir),
  ia3: (model, config, dir) => saveIa3Adapter(model, config as Ia3Config, dir),
  'prompt-tuning': (model, config, dir) =>
    savePromptTuningAdapter(requireDecoder(model, 'Prompt tuning'), config as PromptTuningConfig, dir),
  adalora: (model, config, dir) => saveAdaLoraAdapter(model, config as AdaLoraConfig, dir),
  full: (model, _config, dir) =>
    model instanceof EncoderModel ? saveEncoderFolder(model, dir) : saveLlamaFolder(model, dir),
};

/** Whether a preset's runs have anything to save. */
export function savesAdapters(preset: AdapterPreset): boolean {
  return SAVERS[preset.method.name] !== undefined;
}

/**
 * `adapterConfig`: the preset's, its targets as the model names them (`adapterConfigFor`). `saved`: every variable the files hold (types.ts's savedVariables: the run's trained ones and the adapter's untrained
 * ones), read back first — asynchronously, so WebGPU, which cannot read synchronously, can save too.
 */
export async function saveTrainedAdapter(
  model: Model,
  preset: AdapterPreset,
  saved: readonly Variable[],
  dir: string,
  adapterConfig: unknown = preset.adapterConfig,
): Promise<void> {
  const save = SAVERS[preset.method.name];
  if (save === undefined) return;
  await Promise.all(saved.map((variable) => variable.data()));
  mkdirSync(dir, { recursive: true });
  save(model, adapterConfig, dir);
  const head = model.headParameters();
  const inFolder = preset.method.name === 'full' && model instanceof EncoderModel;
  if (head.length > 0 && !inFolder) {
    writeFileAtomic(join(dir, 'task_head.safetensors'), encodeSafetensors(stateDict(head)));
  }
}
