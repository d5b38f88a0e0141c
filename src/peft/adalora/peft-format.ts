/**
 * AdaLoRA adapters in PEFT's layout: peft_type "ADALORA" with init_r, target_r, the schedule and `rank_pattern`
 * (`<module>.lora_E` → kept flags); tensors `base_model.model.<module>.lora_A` [r, in], `.lora_B` [out, r] and
 * `.lora_E` [r, 1] — sliced to the kept triplets when a rank pattern exists, as PEFT's
 * resize_state_dict_by_rank_pattern does, and grown back to that rank on load (the scaling keeps init_r).
 */
import { tf } from '../../engine/tf.js';
import { Rng } from '../../engine/rng.js';
import { UserError } from '../../errors.js';
import type { Model } from '../../models/model.js';
import type { Linear } from '../../models/layers/linear.js';
import type { AppliedAdapter } from '../types.js';
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
import { AdaLoraLayer } from './layer.js';
import { adaLoraMethod, injectAdaLora } from './index.js';
import { peftAdaLoraFields, type AdaLoraConfig } from './config.js';

export function adaLoraLayers(model: { linears(): Linear[] }): { linear: Linear; layer: AdaLoraLayer }[] {
  return adapterLayersOf(model, AdaLoraLayer);
}

type Entry = TensorRecord[string];

/**
 * Keeps the rows (axis 0) or columns (axis 1) of the kept triplets of a 2D entry — on the host, from values already
 * read: a backend without synchronous reads (WebGPU) could not read back a slice made on the device here.
 */
function keptSlice(entry: Entry, kept: readonly boolean[] | undefined, axis: 0 | 1): Entry {
  if (kept === undefined || kept.every(Boolean)) return entry;
  const [rows, columns] = entry.shape as [number, number];
  const keptIndices = kept.flatMap((keep, i) => (keep ? [i] : []));
  const [outRows, outColumns] = axis === 0 ? [keptIndices.length, columns] : [rows, keptIndices.length];
  const values = new Float32Array(outRows * outColumns);
  for (let i = 0; i < outRows; i++)
    for (let j = 0; j < outColumns; j++) {
      const [row, column] = axis === 0 ? [keptIndices[i]!, j] : [i, keptIndices[j]!];
      values[i * outColumns + j] = entry.values[row * columns + column]!;
    }
  return { shape: [outRows, outColumns], values };
}

export function saveAdaLoraAdapter(
  model: Model,
  config: AdaLoraConfig,
  dir: string,
  totalSteps: number | null = null,
  head?: AdapterHead,
): void {
  const state: TensorRecord = {};
  const rankPattern: Record<string, boolean[]> = {};
  for (const { linear, layer } of adaLoraLayers(model)) {
    const kept = layer.keptTriplets;
    if (kept !== undefined) rankPattern[`${linear.name}.lora_E`] = [...kept];
    const prefix = `${PEFT_PREFIX}${linear.name}`;
    // mceval keeps A [in, r] and B [r, out]; PEFT stores lora_A [r, in], lora_B [out, r] and lora_E [r, 1].
    state[`${prefix}.lora_A`] = keptSlice(transposedEntry(layer.loraA), kept, 0);
    state[`${prefix}.lora_B`] = keptSlice(transposedEntry(layer.loraB), kept, 1);
    const e = tensorEntry(layer.loraE);
    state[`${prefix}.lora_E`] = keptSlice({ shape: [e.values.length, 1], values: e.values }, kept, 0);
  }
  writeAdapterFolder(
    dir,
    {
      peft_type: 'ADALORA',
      task_type: 'CAUSAL_LM',
      r: config.initR,
      ...peftAdaLoraFields(config),
      target_modules: [...config.targetModules],
      total_step: totalSteps,
      rank_pattern: Object.keys(rankPattern).length === 0 ? null : rankPattern,
      bias: 'none',
      fan_in_fan_out: false,
      init_lora_weights: true,
      inference_mode: true,
      modules_to_save: null,
    },
    state,
    {},
    head,
  );
}

export function readPeftAdaLoraConfig(dir: string): { config: AdaLoraConfig; rankPattern: Record<string, boolean[]> } {
  const { raw, path } = readAdapterConfig(dir);
  if (raw['peft_type'] !== 'ADALORA')
    throw new UserError(`${path}: peft_type ${String(raw['peft_type'])} is not ADALORA.`);
  const targets = raw['target_modules'];
  const number = (key: string, fallback: number) => (typeof raw[key] === 'number' ? (raw[key] as number) : fallback);
  const config: AdaLoraConfig = {
    initR: number('init_r', 12),
    targetR: number('target_r', 8),
    alpha: number('lora_alpha', 8),
    dropout: number('lora_dropout', 0),
    targetModules: Array.isArray(targets) ? (targets as string[]) : [String(targets)],
    tinit: number('tinit', 0),
    tfinal: number('tfinal', 0),
    deltaT: number('deltaT', 1),
    beta1: number('beta1', 0.85),
    beta2: number('beta2', 0.85),
    orthRegWeight: number('orth_reg_weight', 0.5),
  };
  const rankPattern = (raw['rank_pattern'] ?? {}) as Record<string, boolean[]>;
  return { config, rankPattern };
}

/** Injects a PEFT AdaLoRA adapter saved in `dir`, each layer at the rank its rank pattern kept. */
export function loadAdaLoraAdapter(model: Model, dir: string): { adapter: AppliedAdapter; config: AdaLoraConfig } {
  const { config, rankPattern } = readPeftAdaLoraConfig(dir);
  const rankOf = (name: string) => {
    const kept = rankPattern[`${name}.lora_E`];
    return kept === undefined ? config.initR : kept.filter(Boolean).length;
  };
  // The method's own adapter object when nothing was pruned; otherwise layers at the pruned ranks.
  const adapter: AppliedAdapter =
    Object.keys(rankPattern).length === 0
      ? adaLoraMethod.apply(model, config, new Rng(0))
      : inferenceAdapter(injectAdaLora(model, config, new Rng(0), rankOf));
  fillAdapterFromFolder(dir, adapter, (file) => {
    for (const { linear, layer } of adaLoraLayers(model)) {
      const prefix = `${PEFT_PREFIX}${linear.name}`;
      const neededBy = `target module ${linear.name}`;
      assignTransposed(file, `${prefix}.lora_A`, layer.loraA, neededBy);
      assignTransposed(file, `${prefix}.lora_B`, layer.loraB, neededBy);
      const e = requireTensor(file, `${prefix}.lora_E`, neededBy);
      if (e.values.length !== layer.rank) {
        throw new UserError(
          `${file.path}: tensor "${prefix}.lora_E" has ${e.values.length} values, the layer needs ${layer.rank}.`,
        );
      }
      layer.loraE.assign(tf.tensor1d(e.values));
    }
  });
  return { adapter, config };
}

/** A pruned adapter loaded for evaluation: its tensors train as one group, without reallocation. */
function inferenceAdapter(injected: ReturnType<typeof injectAdaLora>): AppliedAdapter {
  return {
    method: 'adalora',
    groups: [
      { name: 'adalora', variables: injected.layers.flatMap((layer) => layer.variables()), learningRateMultiplier: 1 },
    ],
    hyperparameters: {},
    dispose: injected.remove,
  };
}

/** W ← W + B·diag(E)·A·α/(r_init + 1e-5) for every AdaLoRA layer (PEFT's merge_and_unload). */
export function mergeAdaLora(model: { linears(): Linear[] }): void {
  for (const { linear, layer } of adaLoraLayers(model)) {
    const merged = tf.tidy(() => tf.add(linear.weight, layer.deltaWeight()));
    linear.weight.assign(merged);
    merged.dispose();
  }
}
