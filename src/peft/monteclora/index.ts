/** MonteCLoRA as an adapter method: a MonteCloraLayer in every targeted linear layer; trains A, B, s and p. */
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { injectAdapterLayers } from '../inject.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from './config.js';
import { meanRegularizer, MonteCloraLayer } from './layer.js';
import { loraGroups, loraHyperparameters } from '../lora/index.js';

export const monteCloraMethod: AdapterMethod<MonteCloraConfig> = {
  name: 'monteclora',
  description:
    'MonteCLoRA: LoRA whose A is a Monte Carlo mixture of Gaussians with a Wishart covariance and Dirichlet weights, regularised by KL and cooperative losses',
  parseConfig: parseMonteCloraConfig,
  apply(model, config, rng): AppliedAdapter {
    const { layers, remove } = injectAdapterLayers(
      model.linears(),
      config.targetModules,
      (target) => new MonteCloraLayer(target.inFeatures, target.outFeatures, config, rng.fork(target.name)),
    );
    const priors = layers.flatMap((layer) => [layer.stdPrior, layer.expertWeightsPrior]);
    return {
      method: 'monteclora',
      groups: [
        ...loraGroups(layers, config),
        ...(config.freezePriors ? [] : [{ name: 'monteclora-priors', variables: priors, learningRateMultiplier: 1 }]),
      ],
      hyperparameters: {
        ...loraHyperparameters(config),
        monteclora_n: config.components,
        sample_scaler: config.sampleScaler,
        kl_loss_weight: config.klWeight,
        dirichlet_prior: config.dirichletPrior,
        cooperative_loss: config.cooperativeLoss,
        double_scale: config.doubleScale,
        detach_perturbed_a: config.detachPerturbedA,
        freeze_priors: config.freezePriors,
        dirichlet_kl_reference_sign: config.dirichletKlReferenceSign,
      },
      // (1/L) Σ_ℓ R_ℓ over the layers that sampled in this forward; nothing in eval mode.
      regularizer: () => meanRegularizer(layers, config),
      dispose: remove,
    };
  },
};
