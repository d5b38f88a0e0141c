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
import type { Model } from '../../models/model.js';
import type { AppliedAdapter } from '../types.js';
import {
  assignTransposed,
  fillAdapterFromFolder,
  PEFT_PREFIX,
  requireTensor,
  type AdapterHead,
} from '../peft-files.js';
import type { TensorRecord } from '../../models/safetensors.js';
import { loraLayers, readPeftLoraConfig, saveLoraAdapter } from '../lora/peft-format.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from './config.js';
import { MonteCloraLayer } from './layer.js';
import { monteCloraMethod } from './index.js';

export const MONTECLORA_CONFIG_FILE = 'monteclora_config.json';
const SAMPLER = 'lora_monteclora_sampler';

/** The layer's priors under their PEFT names, with the parameter each is a row of. */
function samplerTensors(layer: MonteCloraLayer): Record<string, Variable> {
  const { s, p, dirichletPrior } = layer.priors;
  return {
    std_prior: s,
    expert_weights_prior: p,
    ...(dirichletPrior === undefined ? {} : { dirichlet_prior: dirichletPrior }),
  };
}

function monteCloraLayers(model: Model): { name: string; layer: MonteCloraLayer }[] {
  return loraLayers(model)
    .filter(({ layer }) => layer instanceof MonteCloraLayer)
    .map(({ linear, layer }) => ({ name: linear.name, layer: layer as MonteCloraLayer }));
}

export function saveMonteCloraAdapter(model: Model, config: MonteCloraConfig, dir: string, head?: AdapterHead): void {
  const extra: TensorRecord = {};
  // Each prior parameter read once, its rows cut out per layer.
  const read = new Map<Variable, Float32Array>();
  for (const { name, layer } of monteCloraLayers(model)) {
    for (const [key, variable] of Object.entries(samplerTensors(layer))) {
      const width = variable.shape[1]!;
      if (!read.has(variable)) read.set(variable, variable.dataSync() as Float32Array);
      const values = read.get(variable)!;
      extra[`${PEFT_PREFIX}${name}.${SAMPLER}.${key}`] = {
        shape: [width],
        values: values.slice(layer.priorRow * width, (layer.priorRow + 1) * width),
      };
    }
  }
  saveLoraAdapter(model, config, dir, head, { state: extra, files: { [MONTECLORA_CONFIG_FILE]: config } });
}

export function loadMonteCloraAdapter(
  model: Model,
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
    // Each prior parameter's rows, filled layer by layer and assigned once.
    const rows = new Map<Variable, Float32Array>();
    for (const { name, layer } of monteCloraLayers(model)) {
      const neededBy = `target module ${name}`;
      assignTransposed(file, `${PEFT_PREFIX}${name}.lora_A.weight`, layer.loraA, neededBy);
      assignTransposed(file, `${PEFT_PREFIX}${name}.lora_B.weight`, layer.loraB, neededBy);
      for (const [key, variable] of Object.entries(samplerTensors(layer))) {
        const fullKey = `${PEFT_PREFIX}${name}.${SAMPLER}.${key}`;
        const { values } = requireTensor(file, fullKey, `the MonteCLoRA layer ${name}`);
        const width = variable.shape[1]!;
        if (values.length !== width) {
          throw new UserError(
            `${file.path}: tensor "${fullKey}" has ${values.length} values, the layer needs ${width}.`,
          );
        }
        if (!rows.has(variable)) rows.set(variable, new Float32Array(variable.size));
        rows.get(variable)!.set(values, layer.priorRow * width);
      }
    }
    rows.forEach((values, variable) => variable.assign(tf.tensor(values, variable.shape)));
  });
  return { adapter, config };
}
