/** LoRA as an adapter method: inject a LoraLayer into every targeted linear layer; train A and B. */
import type { AdapterMethod, AppliedAdapter } from '../types.js';
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
      groups: [{ name: 'lora', variables: layers.flatMap((layer) => layer.variables()), learningRateMultiplier: 1 }],
      hyperparameters: {
        lora_r: config.r,
        lora_alpha: config.alpha,
        lora_dropout: config.dropout,
        target_modules: config.targetModules.join(' '),
      },
      dispose() {
        targets.forEach((target) => (target.adapter = undefined));
        layers.forEach((layer) => layer.variables().forEach((variable) => variable.dispose()));
      },
    };
  },
};
