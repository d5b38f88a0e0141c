/**
 * MonteCLoRA hyperparameters (docs/monteclora.md §4, the recommended TypeScript defaults) on top of LoRA's, and the
 * four switches that reproduce the published reference code's deviations from the paper (all off by default).
 */
import { readBoolean, readNumber, readString } from '../../config-validation.js';
import { UserError } from '../../errors.js';
import { adapterSection, LORA_KEYS, readLoraFields, type LoraConfig } from '../lora/config.js';

export interface MonteCloraConfig extends LoraConfig {
  /** N: mixture components, also the inner Monte Carlo samples. */
  readonly components: number;
  /** ε: scale of the sampled perturbation of A. */
  readonly sampleScaler: number;
  /** β: weight of the KL terms (the cooperative loss is not weighted). */
  readonly klWeight: number;
  /** α⁰: concentration of the symmetric Dirichlet prior. */
  readonly dirichletPrior: number;
  /** Add the cooperative loss Σw². */
  readonly cooperativeLoss: boolean;
  /** Noise draws made ahead, in one batch (served in order, never reused). */
  readonly bufferSize: number;
  /**
   * How mixture weights are drawn: the logistic-normal (Laplace) approximation of Dir(e^p), as the paper's code does,
   * or exact Dirichlet samples (Gamma quantiles with implicit reparameterisation gradients).
   */
  readonly mixtureWeights: MixtureWeightsKind;
  /**
   * M: outer samples of the two-level estimator (the paper's Eq. 9). Each draws its own Σ and w from the same s and
   * p, with N inner Gaussian samples mixed by its w; the perturbation is their mean, and KL_G and the cooperative
   * loss are averaged over them. M = 1 is the estimator the reference code runs.
   */
  readonly outerSamples: number;
  /** Ablation: the perturbation uses only the most heavily weighted component (weight 1). */
  readonly sparseMixture: boolean;
  /** Ablation: each layer's Dirichlet prior α⁰ is drawn once, α⁰_k = e^{u_k} with u ~ U(0, 1), instead of α⁰·1. */
  readonly randomDirichletPrior: boolean;
  /**
   * Ablation, post-hoc mode: the first this-many epochs train the LoRA mean alone without sampling; the remaining
   * epochs sample and train s and p with A and B frozen. 0 trains everything together (the default).
   */
  readonly posthocMeanEpochs: number;
  /** Published code's deviation 1 (docs/monteclora.md §5): ε applied twice. */
  readonly doubleScale: boolean;
  /** Deviation 2 (§5): the perturbed A replaces A without a gradient path (A random-walks; A, s, p get no task gradient). */
  readonly detachPerturbedA: boolean;
  /** Deviation 3 (§5): s and p are never trained. */
  readonly freezePriors: boolean;
  /** Deviation 4 (§5): the Dirichlet KL with +Σ[lnΓ(α_k) − lnΓ(α⁰_k)]. */
  readonly dirichletKlReferenceSign: boolean;
}

export const MIXTURE_WEIGHTS_KINDS = ['logistic-normal', 'dirichlet'] as const;
export type MixtureWeightsKind = (typeof MIXTURE_WEIGHTS_KINDS)[number];

const SWITCHES = ['doubleScale', 'detachPerturbedA', 'freezePriors', 'dirichletKlReferenceSign'] as const;
const KEYS = [
  ...LORA_KEYS,
  'components',
  'sampleScaler',
  'klWeight',
  'dirichletPrior',
  'cooperativeLoss',
  'bufferSize',
  'mixtureWeights',
  'outerSamples',
  'sparseMixture',
  'randomDirichletPrior',
  'posthocMeanEpochs',
  ...SWITCHES,
] as const;

export function parseMonteCloraConfig(raw: unknown, source: string): MonteCloraConfig {
  const { object, where } = adapterSection(raw, source, KEYS);
  const mixtureWeights = readString(object, 'mixtureWeights', where, 'logistic-normal');
  if (!(MIXTURE_WEIGHTS_KINDS as readonly string[]).includes(mixtureWeights)) {
    throw new UserError(
      `"mixtureWeights" in ${where} must be one of ${MIXTURE_WEIGHTS_KINDS.join(', ')}, not "${mixtureWeights}".`,
    );
  }
  return {
    ...readLoraFields(object, where),
    components: readNumber(object, 'components', where, { default: 4, min: 1, integer: true }),
    sampleScaler: readNumber(object, 'sampleScaler', where, { default: 5e-3, min: 0 }),
    klWeight: readNumber(object, 'klWeight', where, { default: 1e-5, min: 0 }),
    dirichletPrior: readNumber(object, 'dirichletPrior', where, { default: 1, min: 1e-6 }),
    cooperativeLoss: readBoolean(object, 'cooperativeLoss', where, true),
    bufferSize: readNumber(object, 'bufferSize', where, { default: 15, min: 1, integer: true }),
    mixtureWeights: mixtureWeights as MixtureWeightsKind,
    outerSamples: readNumber(object, 'outerSamples', where, { default: 1, min: 1, integer: true }),
    sparseMixture: readBoolean(object, 'sparseMixture', where, false),
    randomDirichletPrior: readBoolean(object, 'randomDirichletPrior', where, false),
    posthocMeanEpochs: readNumber(object, 'posthocMeanEpochs', where, { default: 0, min: 0, integer: true }),
    doubleScale: readBoolean(object, 'doubleScale', where, false),
    detachPerturbedA: readBoolean(object, 'detachPerturbedA', where, false),
    freezePriors: readBoolean(object, 'freezePriors', where, false),
    dirichletKlReferenceSign: readBoolean(object, 'dirichletKlReferenceSign', where, false),
  };
}
