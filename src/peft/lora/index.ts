/** LoRA as an adapter method: inject a LoraLayer into every targeted linear layer; train A and B. */
import type { AdapterMethod, AppliedAdapter, ParameterGroup } from '../types.js';
import { injectAdapterLayers } from '../inject.js';
import { parseLoraConfig, type LoraConfig } from './config.js';
import { LoraLayer } from './layer.js';
import { DoraLayer } from './dora.js';

export const loraMethod: AdapterMethod<LoraConfig> = {
  name: 'lora',
  description: 'LoRA: frozen base weights plus a trainable low-rank update (α/r)·B·A on the targeted linear layers',
  parseConfig: parseLoraConfig,
  apply(model, config, rng): AppliedAdapter {
    const { layers, remove } = injectAdapterLayers(model.linears(), config.targetModules, (target) =>
      config.useDora
        ? new DoraLayer(target, config, rng.fork(target.name))
        : new LoraLayer(target.inFeatures, target.outFeatures, config, rng.fork(target.name)),
    );
    // DoRA's weight norms are formed for all its layers at once (several a dispatch on webgpu).
    const doraLayers = layers.filter((layer): layer is DoraLayer => layer instanceof DoraLayer);
    doraLayers.forEach((layer) => (layer.normGroup = doraLayers));
    return {
      method: 'lora',
      groups: loraGroups(layers, config),
      hyperparameters: loraHyperparameters(config),
      dispose: remove,
    };
  },
};

/** A and B as parameter groups; LoRA+ gives B its own learning-rate multiple. */
export function loraGroups(layers: readonly LoraLayer[], config: LoraConfig): ParameterGroup[] {
  const magnitudes = layers
    .filter((layer) => layer instanceof DoraLayer)
    .map((layer) => (layer as DoraLayer).magnitude);
  return [
    { name: 'lora_A', variables: layers.map((layer) => layer.loraA), learningRateMultiplier: 1 },
    { name: 'lora_B', variables: layers.map((layer) => layer.loraB), learningRateMultiplier: config.loraplusLrRatio },
    ...(magnitudes.length === 0
      ? []
      : [{ name: 'lora_magnitude_vector', variables: magnitudes, learningRateMultiplier: 1 }]),
  ];
}

/** LoRA's hyperparameters as results.csv columns, named as PEFT's LoraConfig fields. */
export function loraHyperparameters(config: LoraConfig): Record<string, string | number | boolean> {
  return {
    lora_r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: config.targetModules.join(' '),
    use_rslora: config.useRslora,
    loraplus_lr_ratio: config.loraplusLrRatio,
    use_dora: config.useDora,
  };
}
