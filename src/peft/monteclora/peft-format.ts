/**
 * MonteCLoRA adapters in PEFT's layout. adapter_config.json and the LoRA tensors are a plain LoRA adapter — the
 * learned mean, which is what evaluation uses — so PEFT (or any LoRA reader) loads them as LoRA. The stochastic
 * parameters sit beside them under upstream PEFT's module name, `<module>.lora_monteclora_sampler.std_prior` [r]
 * and `.expert_weights_prior` [N] (plus `.dirichlet_prior` [N] for the random-prior ablation), and mceval's
 * MonteCLoRA settings in monteclora_config.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Variable } from '../../engine/tf.js';
import { Rng } from '../../engine/rng.js';
import { UserError } from '../../errors.js';
import type { LlamaModel } from '../../models/llama/model.js';
import type { AppliedAdapter } from '../types.js';
import { assignTransposed, fillAdapterFromFolder, PEFT_PREFIX, requireTensor } from '../peft-files.js';
import { tensorEntry, type TensorRecord } from '../../models/safetensors.js';
import { loraLayers, readPeftLoraConfig, saveLoraAdapter } from '../lora/peft-format.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from './config.js';
import { MonteCloraLayer } from './layer.js';
import { monteCloraMethod } from './index.js';

export const MONTECLORA_CONFIG_FILE = 'monteclora_config.json';
const SAMPLER = 'lora_monteclora_sampler';

function samplerTensors(layer: MonteCloraLayer): Record<string, Variable> {
  return {
    std_prior: layer.stdPrior,
    expert_weights_prior: layer.expertWeightsPrior,
    ...(layer.dirichletPriorConcentration === undefined ? {} : { dirichlet_prior: layer.dirichletPriorConcentration }),
  };
}

function monteCloraLayers(model: LlamaModel): { name: string; layer: MonteCloraLayer }[] {
  return loraLayers(model)
    .filter(({ layer }) => layer instanceof MonteCloraLayer)
    .map(({ linear, layer }) => ({ name: linear.name, layer: layer as MonteCloraLayer }));
}

export function saveMonteCloraAdapter(model: LlamaModel, config: MonteCloraConfig, dir: string): void {
  const extra: TensorRecord = {};
  for (const { name, layer } of monteCloraLayers(model)) {
    for (const [key, variable] of Object.entries(samplerTensors(layer))) {
      extra[`${PEFT_PREFIX}${name}.${SAMPLER}.${key}`] = tensorEntry(variable);
    }
  }
  saveLoraAdapter(model, config, dir, {}, extra, { [MONTECLORA_CONFIG_FILE]: config });
}

export function loadMonteCloraAdapter(
  model: LlamaModel,
  dir: string,
): { adapter: AppliedAdapter; config: MonteCloraConfig } {
  const path = join(dir, MONTECLORA_CONFIG_FILE);
  if (!existsSync(path)) {
    throw new UserError(`${dir} has no ${MONTECLORA_CONFIG_FILE}: load it as a LoRA adapter (its learned mean).`);
  }
  readPeftLoraConfig(dir); // the folder must be a LoRA adapter too
  const config = parseMonteCloraConfig(JSON.parse(readFileSync(path, 'utf8')), path);
  const adapter = monteCloraMethod.apply(model, config, new Rng(0));
  fillAdapterFromFolder(dir, adapter, (file) => {
    for (const { name, layer } of monteCloraLayers(model)) {
      const neededBy = `target module ${name}`;
      assignTransposed(file, `${PEFT_PREFIX}${name}.lora_A.weight`, layer.loraA, neededBy);
      assignTransposed(file, `${PEFT_PREFIX}${name}.lora_B.weight`, layer.loraB, neededBy);
      for (const [key, variable] of Object.entries(samplerTensors(layer))) {
        const fullKey = `${PEFT_PREFIX}${name}.${SAMPLER}.${key}`;
        const { values } = requireTensor(file, fullKey, `the MonteCLoRA layer ${name}`);
        if (values.length !== variable.size) {
          throw new UserError(
            `${file.path}: tensor "${fullKey}" has ${values.length} values, the layer needs ${variable.size}.`,
          );
        }
        variable.assign(tf.tensor1d(values));
      }
    }
  });
  return { adapter, config };
}
