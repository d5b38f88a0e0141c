/**
 * Saves a sweep run's trained adapter: each method in PEFT's layout (adapter_config.json + adapter_model.safetensors,
 * as its `save…Adapter` writes it), full fine-tuning as a whole Hugging Face model folder. A classification task's
 * head, trained beside the adapter, is saved as PEFT saves a sequence classifier's `modules_to_save` (task_type
 * SEQ_CLS, the head's tensors in adapter_model.safetensors), and again alone in task_head.safetensors under
 * transformers' names and layout (a decoder's `score.weight` [labels, hidden]; RoBERTa's `classifier.dense.*` and
 * `classifier.out_proj.*`, BERT's `classifier.*`) for loading without PEFT. An encoder's full fine-tuning keeps the
 * head in its folder, as transformers saves a classifier. The baseline (`--adapter none`) has nothing to save.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-write.js';
import type { Variable } from '../engine/tf.js';
import type { Model } from '../models/model.js';
import { EncoderModel } from '../models/encoder/model.js';
import { saveEncoderFolder, saveLlamaFolder, stateDict } from '../models/hf/save-folder.js';
import { encodeSafetensors, type TensorRecord } from '../models/safetensors.js';
import { PEFT_PREFIX, type AdapterHead } from './peft-files.js';
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

type Saver = (model: Model, config: unknown, dir: string, head: AdapterHead | undefined) => void;

const SAVERS: Readonly<Record<string, Saver>> = {
  lora: (model, config, dir, head) => saveLoraAdapter(model, config as LoraConfig, dir, head),
  monteclora: (model, config, dir, head) => saveMonteCloraAdapter(model, config as MonteCloraConfig, dir, head),
  ia3: (model, config, dir, head) => saveIa3Adapter(model, config as Ia3Config, dir, head),
  'prompt-tuning': (model, config, dir, head) =>
    savePromptTuningAdapter(model, config as PromptTuningConfig, dir, head),
  adalora: (model, config, dir, head) => saveAdaLoraAdapter(model, config as AdaLoraConfig, dir, null, head),
  full: (model, _config, dir) =>
    model instanceof EncoderModel ? saveEncoderFolder(model, dir) : saveLlamaFolder(model, dir),
};

/** Whether a preset's runs have anything to save. */
export function savesAdapters(preset: AdapterPreset): boolean {
  return SAVERS[preset.method.name] !== undefined;
}

/**
 * `adapterConfig`: the preset's, its targets as the model names them (`adapterConfigFor`). `saved`: every variable
 * the files hold (types.ts's savedVariables: the run's trained ones and the adapter's untrained ones), read back
 * first — asynchronously, so WebGPU, which cannot read synchronously, can save too.
 */
export async function saveTrainedAdapter(
  model: Model,
  preset: AdapterPreset,
  saved: readonly Variable[],
  dir: string,
  adapterConfig: unknown = preset.adapterConfig,
): Promise<void> {
  const method = preset.method.name;
  const save = SAVERS[method];
  if (save === undefined) return;
  await Promise.all(saved.map((variable) => variable.data()));
  mkdirSync(dir, { recursive: true });
  const parameters = model.headParameters();
  // An encoder's full fine-tuning keeps its head in the classifier folder it saves; any other head is read once, for
  // the adapter file (full fine-tuning has none) and for task_head.safetensors.
  const inFolder = method === 'full' && model instanceof EncoderModel;
  const head = parameters.length === 0 || inFolder ? undefined : stateDict(parameters);
  const withAdapter = head !== undefined && method !== 'full';
  save(model, adapterConfig, dir, withAdapter ? peftHead(model, head, method === 'prompt-tuning') : undefined);
  if (head !== undefined) writeFileAtomic(join(dir, 'task_head.safetensors'), encodeSafetensors(head));
}

/**
 * The head as PEFT's PeftModelForSequenceClassification saves it: `modules_to_save` names the head module
 * (transformers' `classifier`, or a decoder's `score`), its tensors join the adapter's under the wrapped model's
 * path with the wrapper's infix dropped — `base_model.model.classifier.dense.weight` for a tuner (LoRA, IA3, …),
 * `base_model.classifier.dense.weight` for prompt learning, whose PeftModel wraps the model once.
 */
function peftHead(model: Model, head: TensorRecord, promptLearning: boolean): AdapterHead {
  const prefix = promptLearning ? 'base_model.' : PEFT_PREFIX;
  const state: TensorRecord = {};
  for (const [name, entry] of Object.entries(head)) state[`${prefix}${name}`] = entry;
  return { module: model instanceof EncoderModel ? 'classifier' : 'score', state };
}
