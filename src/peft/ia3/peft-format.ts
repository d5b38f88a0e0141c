/**
 * IA3 adapters in PEFT's layout: adapter_config.json (peft_type "IA3", target_modules, feedforward_modules) and
 * `base_model.model.<module>.ia3_l` tensors, [1, in] for feed-forward layers and [out, 1] for the others.
 */
import { tf } from '../../engine/tf.js';
import { Rng } from '../../engine/rng.js';
import { UserError } from '../../errors.js';
import {
  adapterLayersOf,
  fillAdapterFromFolder,
  PEFT_PREFIX,
  readAdapterConfig,
  requireTensor,
  writeAdapterFolder,
  type AdapterHead,
} from '../peft-files.js';
import { type TensorRecord } from '../../models/safetensors.js';
import type { Linear } from '../../models/layers/linear.js';
import type { Model } from '../../models/model.js';
import type { AppliedAdapter } from '../types.js';
import { ia3Method } from './index.js';
import { Ia3Layer } from './layer.js';
import type { Ia3Config } from './config.js';

function ia3Layers(model: { linears(): Linear[] }): { linear: Linear; layer: Ia3Layer }[] {
  return adapterLayersOf(model, Ia3Layer);
}

/** Writes the vectors as PEFT stores them: [1, in] for feed-forward layers, [out, 1] for the others. */
export function saveIa3Adapter(model: Model, config: Ia3Config, dir: string, head?: AdapterHead): void {
  const state: TensorRecord = {};
  for (const { linear, layer } of ia3Layers(model)) {
    const values = Float32Array.from(layer.scale.dataSync());
    state[`${PEFT_PREFIX}${linear.name}.ia3_l`] = {
      shape: layer.isFeedforward ? [1, values.length] : [values.length, 1],
      values,
    };
  }
  writeAdapterFolder(
    dir,
    {
      peft_type: 'IA3',
      task_type: 'CAUSAL_LM',
      target_modules: [...config.targetModules],
      feedforward_modules: [...config.feedforwardModules],
      fan_in_fan_out: false,
      init_ia3_weights: true,
      inference_mode: true,
      modules_to_save: null,
    },
    state,
    {},
    head,
  );
}

export function loadIa3Adapter(model: Model, dir: string): { adapter: AppliedAdapter; config: Ia3Config } {
  const { raw, path } = readAdapterConfig(dir);
  if (raw['peft_type'] !== 'IA3') throw new UserError(`${path}: peft_type ${String(raw['peft_type'])} is not IA3.`);
  const list = (value: unknown) =>
    Array.isArray(value) ? (value as string[]) : value === undefined || value === null ? [] : [String(value)];
  const config: Ia3Config = {
    targetModules: list(raw['target_modules']),
    feedforwardModules: list(raw['feedforward_modules']),
  };
  const adapter = ia3Method.apply(model, config, new Rng(0));
  fillAdapterFromFolder(dir, adapter, (file) => {
    for (const { linear, layer } of ia3Layers(model)) {
      const key = `${PEFT_PREFIX}${linear.name}.ia3_l`;
      const { values } = requireTensor(file, key, `target module ${linear.name}`);
      if (values.length !== layer.scale.size) {
        throw new UserError(
          `${file.path}: tensor "${key}" has ${values.length} values, the layer needs ${layer.scale.size}.`,
        );
      }
      layer.scale.assign(tf.tensor1d(values));
    }
  });
  return { adapter, config };
}

/** Folds the vectors into the base weights ([in, out] layout): rows for feed-forward layers, columns (and bias) otherwise. */
export function mergeIa3(model: { linears(): Linear[] }): void {
  for (const { linear, layer } of ia3Layers(model)) {
    const weight = tf.tidy(() =>
      layer.isFeedforward
        ? tf.mul(linear.weight, tf.reshape(layer.scale, [-1, 1]))
        : tf.mul(linear.weight, layer.scale),
    );
    linear.weight.assign(weight);
    weight.dispose();
    if (linear.bias !== undefined && !layer.isFeedforward) {
      const bias = tf.tidy(() => tf.mul(linear.bias!, layer.scale));
      linear.bias.assign(bias);
      bias.dispose();
    }
  }
}
