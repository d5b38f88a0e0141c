/** LoRA as an adapter method: inject a LoraLayer into every targeted linear layer; train A and B. */
import type { AdapterMethod, AppliedAdapter, ParameterGroup } from '../types.js';
import { findTargetLinears } from '../inject.js';
import { parseLoraConfig, type LoraConfig } from './config.js';
import { LoraLayer } from './layer.js';

export const loraMethod: AdapterMethod<LoraConfig> = {
  name: 'lora',
  description: 'LoRA: frozen base weights plus a trainable low-rank update (α/r)·B·A on the targeted linear layers',
  parseConfig: parseLoraConfig,
  apply(model, config, rng): AppliedAdapter {
    const targets = findTargetLinears(model.linears(), config.targetModules);
    const layers = targets.map((target) => {
      const layer = new LoraLayer(target.inFeatures, target.outFeatures, config, rng.fork(target.name));
      target.adapter = layer;
      return layer;
    });
    return {
      method: 'lora',
      groups: loraGroups(layers, config),
      hyperparameters: {
        lora_r: config.r,
        lora_alpha: config.alpha,
        lora_dropout: config.dropout,
        target_modules: config.targetModules.join(' '),
        use_rslora: config.useRslora,
        loraplus_lr_ratio: config.loraplusLrRatio,
      },
      dispose() {
        targets.forEach((target) => (target.adapter = undefined));
        layers.forEach((layer) => layer.variables().forEach((variable) => variable.dispose()));
      },
    };
  },
};

/** A and B as parameter groups; LoRA+ gives B its own learning-rate multiple. */
export function loraGroups(layers: readonly LoraLayer[], config: LoraConfig): ParameterGroup[] {
  return [
    { name: 'lora_A', variables: layers.map((layer) => layer.loraA), learningRateMultiplier: 1 },
    { name: 'lora_B', variables: layers.map((layer) => layer.loraB), learningRateMultiplier: config.loraplusLrRatio },
  ];
}
