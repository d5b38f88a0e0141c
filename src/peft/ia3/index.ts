/** IA3 as an adapter method: an Ia3Layer on every targeted linear layer; trains only the scaling vectors. */
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { injectAdapterLayers, matchesTarget } from '../inject.js';
import { parseIa3Config, type Ia3Config } from './config.js';
import { Ia3Layer } from './layer.js';

export const ia3Method: AdapterMethod<Ia3Config> = {
  name: 'ia3',
  description: 'IA3: learned vectors rescaling the outputs of attention layers and the inputs of feed-forward layers',
  parseConfig: parseIa3Config,
  apply(model, config): AppliedAdapter {
    const { layers, remove } = injectAdapterLayers(model.linears(), config.targetModules, (target) => {
      const feedforward = config.feedforwardModules.some((module) => matchesTarget(target.name, module));
      return new Ia3Layer(feedforward ? target.inFeatures : target.outFeatures, feedforward);
    });
    return {
      method: 'ia3',
      groups: [{ name: 'ia3', variables: layers.map((layer) => layer.scale), learningRateMultiplier: 1 }],
      hyperparameters: {
        target_modules: config.targetModules.join(' '),
        feedforward_modules: config.feedforwardModules.join(' '),
      },
      dispose: remove,
    };
  },
};
