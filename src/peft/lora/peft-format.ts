/**
 * LoRA adapters in PEFT's on-disk layout, so that adapters move between mceval and PEFT both ways:
 * `adapter_config.json` (peft_type "LORA", r, lora_alpha, lora_dropout, target_modules, …) and
 * `adapter_model.safetensors` with keys `base_model.model.<module>.lora_A.weight` [r, in] and `….lora_B.weight`
 * [out, r] (mceval stores both transposed); DoRA adds `….lora_magnitude_vector` [out].
 */
import { tf, type Tensor2D } from '../../engine/tf.js';
import { Rng } from '../../engine/rng.js';
import { UserError } from '../../errors.js';
import {
  adapterLayersOf,
  assignTransposed,
  fillAdapterFromFolder,
  PEFT_PREFIX,
  readAdapterConfig,
  requireTensor,
  writeAdapterFolder,
  type AdapterHead,
} from '../peft-files.js';
import { tensorEntry, transposedEntry, type TensorRecord } from '../../models/safetensors.js';
import type { Linear } from '../../models/layers/linear.js';
import type { Model } from '../../models/model.js';
import type { AppliedAdapter } from '../types.js';
import { loraMethod } from './index.js';
import { LoraLayer } from './layer.js';
import { DoraLayer } from './dora.js';
import type { LoraConfig } from './config.js';

/** The adapted layers of a model: each linear layer whose adapter is a LoRA layer (or a variant of it). */
export function loraLayers(model: { linears(): Linear[] }): { linear: Linear; layer: LoraLayer }[] {
  return adapterLayersOf(model, LoraLayer);
}

/** PEFT's state dict of the LoRA matrices (and DoRA's magnitude vectors). */
export function loraStateDict(model: { linears(): Linear[] }): TensorRecord {
  const state: TensorRecord = {};
  for (const { linear, layer } of loraLayers(model)) {
    state[`${PEFT_PREFIX}${linear.name}.lora_A.weight`] = transposedEntry(layer.loraA);
    state[`${PEFT_PREFIX}${linear.name}.lora_B.weight`] = transposedEntry(layer.loraB);
    if (layer instanceof DoraLayer) {
      state[`${PEFT_PREFIX}${linear.name}.lora_magnitude_vector`] = tensorEntry(layer.magnitude);
    }
  }
  return state;
}

export function peftLoraConfig(config: LoraConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: [...config.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    use_rslora: config.useRslora,
    use_dora: config.useDora,
    inference_mode: true,
    modules_to_save: null,
    ...extra,
  };
}

/** What a LoRA variant saves beyond LoRA's own: config fields, tensors, files (MonteCLoRA's). */
export interface LoraExtras {
  readonly config?: Record<string, unknown>;
  readonly state?: TensorRecord;
  readonly files?: Record<string, unknown>;
}

/**
 * Writes adapter_config.json and adapter_model.safetensors into `dir`, each whole or not at all; a classification
 * head trained beside the adapter goes in as PEFT saves modules_to_save.
 */
export function saveLoraAdapter(
  model: Model,
  config: LoraConfig,
  dir: string,
  head?: AdapterHead,
  extras: LoraExtras = {},
): void {
  const state = loraStateDict(model);
  if (Object.keys(state).length === 0) throw new UserError('The model has no LoRA layers to save.');
  const files = extras.files ?? {};
  writeAdapterFolder(dir, peftLoraConfig(config, extras.config), { ...state, ...extras.state }, files, head);
}

/** Reads PEFT's adapter_config.json as a LoraConfig (LoRA only; DoRA and other variants are refused by name). */
export function readPeftLoraConfig(dir: string): LoraConfig {
  const { raw, path } = readAdapterConfig(dir);
  if (raw['peft_type'] !== 'LORA') {
    throw new UserError(`${path}: peft_type ${String(raw['peft_type'])} is not a LoRA adapter.`);
  }
  const targets = raw['target_modules'];
  return {
    r: raw['r'] as number,
    alpha: raw['lora_alpha'] as number,
    dropout: (raw['lora_dropout'] as number | undefined) ?? 0,
    targetModules: Array.isArray(targets) ? (targets as string[]) : [String(targets)],
    useRslora: raw['use_rslora'] === true,
    loraplusLrRatio: 1,
    useDora: raw['use_dora'] === true,
  };
}

/** Injects a PEFT LoRA (or rsLoRA, DoRA) adapter saved in `dir` into the model, with its saved tensors. */
export function loadLoraAdapter(model: Model, dir: string): { adapter: AppliedAdapter; config: LoraConfig } {
  const config = readPeftLoraConfig(dir);
  const adapter = loraMethod.apply(model, config, new Rng(0));
  fillAdapterFromFolder(dir, adapter, (file) => {
    for (const { linear, layer } of loraLayers(model)) {
      // Stored [r, in] and [out, r]; mceval keeps both transposed.
      const neededBy = `target module ${linear.name}`;
      assignTransposed(file, `${PEFT_PREFIX}${linear.name}.lora_A.weight`, layer.loraA, neededBy);
      assignTransposed(file, `${PEFT_PREFIX}${linear.name}.lora_B.weight`, layer.loraB, neededBy);
      if (layer instanceof DoraLayer) {
        const key = `${PEFT_PREFIX}${linear.name}.lora_magnitude_vector`;
        layer.magnitude.assign(tf.tensor1d(requireTensor(file, key, `the DoRA layer ${linear.name}`).values));
      }
    }
  });
  return { adapter, config };
}

/** W ← W + (α/r)·AᵀBᵀ in mceval's [in, out] layout (PEFT's merge_and_unload), or the inverse with `sign` −1. */
export function mergeLora(model: { linears(): Linear[] }, sign: 1 | -1 = 1): void {
  for (const { linear, layer } of loraLayers(model)) {
    if (layer instanceof DoraLayer) {
      if (sign === -1) throw new UserError('Unmerging DoRA is not supported: merge a copy of the model instead.');
      const merged = tf.tidy(() => {
        const adapted = tf.add(
          linear.weight,
          tf.mul(tf.matMul(layer.loraA as unknown as Tensor2D, layer.loraB as unknown as Tensor2D), layer.scaling),
        );
        return tf.mul(adapted, tf.div(layer.magnitude, tf.norm(adapted, 'euclidean', 0)));
      });
      linear.weight.assign(merged);
      merged.dispose();
      continue;
    }
    const updated = tf.tidy(() =>
      tf.add(
        linear.weight,
        tf.mul(tf.matMul(layer.loraA as unknown as Tensor2D, layer.loraB as unknown as Tensor2D), sign * layer.scaling),
      ),
    );
    linear.weight.assign(updated);
    updated.dispose();
  }
}
