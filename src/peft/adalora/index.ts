/**
 * AdaLoRA as an adapter method: an AdaLoraLayer in every targeted linear layer, the orthogonality regulariser
 * γ·mean_{A,B}‖·‖_F added to the loss, and the rank allocator pruning triplets after each step.
 */
import { tf, type Scalar } from '../../engine/tf.js';
import { sumAll } from '../../engine/ops/sum-all.js';
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { injectAdapterLayers } from '../inject.js';
import { parseAdaLoraConfig, peftAdaLoraFields, type AdaLoraConfig } from './config.js';
import { AdaLoraLayer } from './layer.js';
import { RankAllocator } from './rank-allocator.js';
import type { Model } from '../../models/model.js';
import type { Rng } from '../../engine/rng.js';

/** Injects AdaLoRA layers; `ranks` gives a stored rank per targeted layer (a pruned adapter being loaded). */
export function injectAdaLora(
  model: Model,
  config: AdaLoraConfig,
  rng: Rng,
  ranks?: (moduleName: string) => number,
): { layers: AdaLoraLayer[]; names: string[]; remove: () => void } {
  const names: string[] = [];
  const { layers, remove } = injectAdapterLayers(model.linears(), config.targetModules, (target) => {
    names.push(target.name);
    const rank = ranks?.(target.name) ?? config.initR;
    return new AdaLoraLayer(
      target.inFeatures,
      target.outFeatures,
      rank,
      config.initR,
      config.alpha,
      config.dropout,
      rng.fork(target.name),
    );
  });
  return { layers, names, remove };
}

/** γ · mean over every A and B of ‖AAᵀ − I‖_F / ‖BᵀB − I‖_F (PEFT's AdaLoraModel.forward). */
export function orthogonalityRegularizer(layers: readonly AdaLoraLayer[], weight: number): Scalar {
  return tf.tidy(() => {
    const residuals = layers.flatMap((layer) => layer.orthogonalityResiduals());
    return tf.mul(tf.div(sumAll(residuals), residuals.length), weight) as Scalar;
  });
}

export const adaLoraMethod: AdapterMethod<AdaLoraConfig> = {
  name: 'adalora',
  description:
    'AdaLoRA: SVD-like triplet updates B·diag(E)·A whose rank budget is reallocated by importance during training',
  parseConfig: parseAdaLoraConfig,
  apply(model, config, rng): AppliedAdapter {
    const { layers, remove } = injectAdaLora(model, config, rng);
    const allocator = new RankAllocator(layers, config);
    return {
      method: 'adalora',
      groups: [
        { name: 'lora_A', variables: layers.map((layer) => layer.loraA), learningRateMultiplier: 1 },
        { name: 'lora_E', variables: layers.map((layer) => layer.loraE), learningRateMultiplier: 1 },
        { name: 'lora_B', variables: layers.map((layer) => layer.loraB), learningRateMultiplier: 1 },
      ],
      hyperparameters: { ...peftAdaLoraFields(config), target_modules: config.targetModules.join(' ') },
      regularizer: () =>
        config.orthRegWeight > 0 ? orthogonalityRegularizer(layers, config.orthRegWeight) : undefined,
      afterStep: (update) => allocator.afterStep(update),
      settleStep: () => allocator.settle(),
      diagnostics: () => ({ rank_budget: allocator.budget }),
      dispose: () => {
        allocator.dispose();
        remove();
      },
    };
  },
};
