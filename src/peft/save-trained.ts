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
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-write.js';
import type { Variable } from '../engine/tf.js';
import { requireDecoder, type Model } from '../models/model.js';
import { EncoderModel } from '../models/encoder/model.js';
import { saveEncoderFolder, saveLlamaFolder, stateDict } from '../models/hf/save-folder.js';
import { encodeSafetensors, SafetensorsFile, type TensorRecord } from '../models/safetensors.js';
import { PEFT_PREFIX } from './peft-files.js';
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
  const save = SAVERS[preset.method.name];
  if (save === undefined) return;
  await Promise.all(saved.map((variable) => variable.data()));
  mkdirSync(dir, { recursive: true });
  save(model, adapterConfig, dir);
  const head = model.headParameters();
  if (head.length === 0 || (preset.method.name === 'full' && model instanceof EncoderModel)) return;
  if (preset.method.name !== 'full') addHeadToPeftAdapter(dir, model, preset.method.name === 'prompt-tuning');
  writeFileAtomic(join(dir, 'task_head.safetensors'), encodeSafetensors(stateDict(head)));
}

/**
 * The head as PEFT's PeftModelForSequenceClassification saves it: `modules_to_save` names the head module
 * (transformers' `classifier`, or a decoder's `score`), its tensors join the adapter's under the wrapped model's
 * path with the wrapper's infix dropped — `base_model.model.classifier.dense.weight` for a tuner (LoRA, IA3, …),
 * `base_model.classifier.dense.weight` for prompt learning, whose PeftModel wraps the model once.
 */
function addHeadToPeftAdapter(dir: string, model: Model, promptLearning: boolean): void {
  const weightsPath = join(dir, 'adapter_model.safetensors');
  const configPath = join(dir, 'adapter_config.json');
  const file = SafetensorsFile.open(weightsPath);
  const state: TensorRecord = {};
  try {
    for (const name of file.tensors.keys()) {
      const { shape, values } = file.read(name);
      state[name] = { shape: [...shape], values };
    }
  } finally {
    file.close();
  }
  const prefix = promptLearning ? 'base_model.' : PEFT_PREFIX;
  for (const [name, entry] of Object.entries(stateDict(model.headParameters()))) state[`${prefix}${name}`] = entry;
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  const module = model instanceof EncoderModel ? 'classifier' : 'score';
  writeFileAtomic(weightsPath, encodeSafetensors(state));
  writeFileAtomic(
    configPath,
    `${JSON.stringify({ ...config, task_type: 'SEQ_CLS', modules_to_save: [module] }, null, 2)}\n`,
  );
}
