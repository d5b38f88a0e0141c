/** MonteCLoRA as an adapter method: a MonteCloraLayer in every targeted linear layer; trains A, B, s and p. */
import type { AdapterMethod, AppliedAdapter } from '../types.js';
import { injectAdapterLayers } from '../inject.js';
import { parseMonteCloraConfig, type MonteCloraConfig } from './config.js';
import { meanRegularizer, MonteCloraLayer, REGULARIZER_LOG_KEYS } from './layer.js';
import { GroupSampler } from './group-sampler.js';
import { StackedPriors } from './priors.js';
import { concentration } from './mixture-weights.js';
import { tf, type Tensor } from '../../engine/tf.js';
import { loraGroups, loraHyperparameters } from '../lora/index.js';

export const monteCloraMethod: AdapterMethod<MonteCloraConfig> = {
  name: 'monteclora',
  description:
    'MonteCLoRA: LoRA whose A is a Monte Carlo mixture of Gaussians with a Wishart covariance and Dirichlet weights, regularised by KL and cooperative losses',
  parseConfig: parseMonteCloraConfig,
  apply(model, config, rng): AppliedAdapter {
    const injected = injectAdapterLayers(
      model.linears(),
      config.targetModules,
      (target) => new MonteCloraLayer(target.inFeatures, target.outFeatures, config, rng.fork(target.name)),
    );
    // Ordered by input width (stably), so that a draw by tfjs ops finds each width's rows of its stacked tensors
    // together: slices, not gathers. Each layer draws from its own generator, so the order changes no draw.
    const layers = [...injected.layers].sort((a, b) => a.loraA.shape[0]! - b.loraA.shape[0]!);
    // One sampler for all layers: the sampling maths runs once per forward on stacked tensors — the priors among
    // them, held as one parameter each with a row per layer.
    const priors = StackedPriors.concat(layers.map((layer) => layer.priors));
    const sampler = new GroupSampler(layers, config);
    layers.forEach((layer, row) => {
      layer.sharePriors(priors, row);
      layer.sampler = sampler;
    });
    let terms: Tensor | undefined;
    const releaseTerms = () => {
      terms?.dispose();
      terms = undefined;
    };
    // Post-hoc mode: the mean (A, B) trains alone for the first epochs, then s and p train with the mean frozen.
    const phases = config.posthocMeanEpochs;
    const meanPhase = phases === 0 ? undefined : (epoch: number) => epoch < phases;
    const priorPhase = phases === 0 ? undefined : (epoch: number) => epoch >= phases;
    return {
      method: 'monteclora',
      groups: [
        ...loraGroups(injected.layers, config).map((group) => ({ ...group, trainsInEpoch: meanPhase })),
        ...(config.freezePriors
          ? []
          : [
              {
                name: 'monteclora-priors',
                variables: [priors.s, priors.p],
                learningRateMultiplier: 1,
                trainsInEpoch: priorPhase,
              },
            ]),
      ],
      untrained: priors.variables().filter((variable) => !variable.trainable),
      beginEpoch: (epoch) => layers.forEach((layer) => (layer.sampling = priorPhase?.(epoch) ?? true)),
      // The exact-Dirichlet sampler computes Gamma quantiles on the host from α = e^p: read once per step, before its
      // forward passes, asynchronously (WebGPU cannot read synchronously). The values are the device's own e^p.
      ...(config.mixtureWeights === 'dirichlet'
        ? {
            prepareStep: async () => {
              const alpha = tf.tidy(() => concentration(priors.p));
              const values = (await alpha.data()) as Float32Array;
              alpha.dispose();
              const N = config.components;
              layers.forEach((layer, i) => (layer.hostConcentration = values.subarray(i * N, (i + 1) * N)));
            },
            settleStep: async () => layers.forEach((layer) => (layer.hostConcentration = undefined)),
          }
        : {}),
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
        mixture_weights: config.mixtureWeights,
        monteclora_m: config.outerSamples,
        sparse_mixture: config.sparseMixture,
        random_dirichlet_prior: config.randomDirichletPrior,
        posthoc_mean_epochs: config.posthocMeanEpochs,
      },
      // (1/L) Σ_ℓ R_ℓ over the layers that sampled in this forward; nothing in eval mode.
      regularizer: () => {
        releaseTerms();
        return meanRegularizer(layers, config, (recorded) => (terms = recorded));
      },
      // Per-layer means of the last step's KL terms and cooperative loss, and the noise-to-A norm ratio: read with the
      // step's loss (a replayed step's too). Released by the next step's regulariser.
      stepLog: () => (terms === undefined ? undefined : { keys: REGULARIZER_LOG_KEYS, values: terms }),
      // The noise is drawn through step-values.ts's drawnValue (group-sampler.ts): a replayed step draws it again.
      stepValuesNoted: true,
      dispose: () => {
        releaseTerms();
        injected.remove();
        priors.dispose();
      },
    };
  },
};
